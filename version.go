package cloudsqlproxy

import (
	"fmt"
	"strconv"
	"strings"
)

// version is a proxy release, compared to gate options.
type version struct{ major, minor, patch int }

func (v version) less(o version) bool {
	if v.major != o.major {
		return v.major < o.major
	}
	if v.minor != o.minor {
		return v.minor < o.minor
	}
	return v.patch < o.patch
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

// Features and the proxy release that introduced them (CHANGELOG, checked
// against the binaries). Everything the library always emits must be
// available from minVersion on; flags that an option turns on carry their
// own release in the flag table.
var (
	minVersion = version{2, 6, 0} // --exit-zero-on-sigterm
	sincePSC   = version{2, 5, 0} // also the per-instance psc parameter
	sinceWait  = version{2, 8, 0} // the wait subcommand of the postStart hook
	// sinceBuiltInMetrics added --enable-builtin-metrics, --compute-platform
	// and --application-name, and turned the export on by default.
	sinceBuiltInMetrics = version{2, 27, 0}
)

// parseVersion reads "2.25.3", "v2.25.3" or "2.25.3-alpine"; the suffix is
// returned as the image variant. It accepts what
// ^v?(\d{1,4})\.(\d{1,4})\.(\d{1,4})(-[0-9A-Za-z.-]+)?$ matches, written out
// because New runs it on every call and the regexp cost a tenth of New.
func parseVersion(s string) (v version, variant string, ok bool) {
	core, variant, hasVariant := strings.Cut(strings.TrimPrefix(s, "v"), "-")
	if hasVariant && (variant == "" || strings.TrimLeft(variant, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-") != "") {
		return version{}, "", false
	}
	var n [3]int
	for i := range n {
		part, rest, found := strings.Cut(core, ".")
		if found == (i == 2) || len(part) < 1 || len(part) > 4 || strings.TrimLeft(part, "0123456789") != "" {
			return version{}, "", false
		}
		n[i], _ = strconv.Atoi(part)
		core = rest
	}
	return version{n[0], n[1], n[2]}, variant, true
}

// imageRef splits an image reference into repository and tag; the tag is
// empty when there is none.
func imageRef(image string) (repo, tag string) {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		return image[:i], image[i+1:]
	}
	return image, ""
}
