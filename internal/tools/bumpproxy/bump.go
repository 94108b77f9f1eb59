package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/podspec/cloudsqlproxy/internal/proxysrc"
)

// versionConst matches the constants that name the default release:
// DefaultVersion in proxy.go, Release in internal/proxycmd/v2.go.
var versionConst = regexp.MustCompile(`(?m)^(\s*(?:const\s+)?(?:DefaultVersion|Release)\s*=\s*")([0-9]+\.[0-9]+\.[0-9]+)(")`)

// setDefaultVersion rewrites the constant that names the default release
// and returns the version it had.
func setDefaultVersion(src []byte, version string) (out []byte, old string, err error) {
	m := versionConst.FindSubmatchIndex(src)
	if m == nil {
		return nil, "", fmt.Errorf(`no DefaultVersion or Release = "X.Y.Z" constant`)
	}
	old = string(src[m[4]:m[5]])
	out = append(append(append([]byte{}, src[:m[4]]...), version...), src[m[5]:]...)
	return out, old, nil
}

// docMarkers are what a line of the READMEs says when it names the default
// version; other lines (measurements taken with one release, say) keep
// theirs.
var docMarkers = []string{"DefaultVersion", "DefaultImage", "default image"}

// bumpDocs replaces old with version on the lines of a README that carry a
// marker, and returns how many lines changed.
func bumpDocs(text, old, version string) (string, int) {
	lines := strings.SplitAfter(text, "\n")
	n := 0
	for i, l := range lines {
		if !strings.Contains(l, old) || !hasMarker(l) {
			continue
		}
		lines[i] = strings.ReplaceAll(l, old, version)
		n++
	}
	return strings.Join(lines, ""), n
}

func hasMarker(line string) bool {
	for _, m := range docMarkers {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}

// bumpImages replaces the default image at old with version wherever a
// file shows it (the examples print it).
func bumpImages(text, old, version string) (string, int) {
	from := "cloud-sql-connectors/cloud-sql-proxy:" + old
	return strings.ReplaceAll(text, from, "cloud-sql-connectors/cloud-sql-proxy:"+version), strings.Count(text, from)
}

// entriesOf lists what a release's cmd/root.go has: its root command's
// flags, per-instance parameters and subcommands, dated with version.
func entriesOf(rootGo []byte, version string) []proxysrc.Introduced {
	var out []proxysrc.Introduced
	add := func(kind string, names []string) {
		for _, n := range names {
			out = append(out, proxysrc.Introduced{Kind: kind, Name: n, Release: version})
		}
	}
	var flags []string
	for _, f := range proxysrc.RootFlags(rootGo) {
		flags = append(flags, f.Name)
	}
	add(proxysrc.KindFlag, flags)
	add(proxysrc.KindParam, proxysrc.Params(rootGo))
	add(proxysrc.KindSubcommand, proxysrc.Subcommands(rootGo))
	return out
}

// missing are the entries of from that in lacks, by kind and name.
func missing(from, in []proxysrc.Introduced) []proxysrc.Introduced {
	have := map[[2]string]bool{}
	for _, e := range in {
		have[[2]string{e.Kind, e.Name}] = true
	}
	var out []proxysrc.Introduced
	for _, e := range from {
		if !have[[2]string{e.Kind, e.Name}] {
			out = append(out, e)
		}
	}
	return out
}

// additions are the entries a release has that the release table lacks;
// removals the table's entries that the release no longer has: the
// library's gates assume nothing is removed, so the maintainer must decide
// what an older image still needs.
func additions(rel, release []proxysrc.Introduced) []proxysrc.Introduced {
	return missing(release, rel)
}
func removals(rel, release []proxysrc.Introduced) []proxysrc.Introduced { return missing(rel, release) }

// releaseLines renders entries as lines of releases.txt.
func releaseLines(entries []proxysrc.Introduced) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s %s %s\n", e.Kind, e.Name, e.Release)
	}
	return b.String()
}
