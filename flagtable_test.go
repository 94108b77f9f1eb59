package cloudsqlproxy

import (
	"testing"

	"github.com/podspec/cloudsqlproxy/internal/proxycmd"
	"github.com/podspec/cloudsqlproxy/internal/proxysrc"
)

// notOffered are the root command's flags that the library neither renders
// nor sets through an option, and why. FromContainer refuses a container
// that uses one (the proxy would lose it), except where adopt.go reads it
// itself.
var notOffered = map[string]string{
	"config-file":                       "a TOML file the library cannot see; its settings belong in options",
	"connect-tunnel":                    "hidden and experimental (2.28)",
	"fuse":                              "needs /dev/fuse and privileges Pod Security restricted forbids",
	"fuse-tmp-dir":                      "only with --fuse",
	"gcloud-auth":                       "no gcloud credentials in a pod",
	"help":                              "prints help and exits",
	"json-credentials":                  "a key in the arguments is visible to anyone who can read the pod; WithCredentialsSecret mounts it",
	"login-token":                       "a token in the arguments expires and is visible to anyone who can read the pod",
	"resource-exhausted-cooldown-delay": "tuning for Developer Edition instances; no option yet",
	"run-connection-test":               "exits with the first unreachable instance; a probe-gated sidecar must keep serving",
	"skip-failed-instance-config":       "hides a broken instance behind a started sidecar",
	"sql-data":                          "no option yet",
	"sqldata-api-endpoint":              "no option yet",
	"token":                             "a token in the arguments expires and is visible to anyone who can read the pod",
	"version":                           "prints the version and exits",
}

// TestFlagReleases checks every version gate against the first release of
// each flag, parameter and subcommand read from the proxy's source
// (internal/proxysrc/releases.txt): the library refuses an option on
// exactly the releases that lack its flag, for every 2.x image from
// minVersion on. It also keeps the flag tables complete: every flag of the
// proxy is readable by FromContainer (v2Flags), and either rendered
// (flagTable) or listed in notOffered with a reason.
func TestFlagReleases(t *testing.T) {
	rel, err := proxysrc.Releases()
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]version{}
	for _, r := range rel {
		v, _, ok := parseVersion(r.Release)
		if !ok {
			t.Fatalf("releases.txt: %s %s: bad release %q", r.Kind, r.Name, r.Release)
		}
		first[r.Kind+" "+r.Name] = v
	}
	// gate is the release from which an image may use a thing: nothing
	// older than minVersion is accepted at all.
	gate := func(v version) version {
		if v.less(minVersion) {
			return minVersion
		}
		return v
	}
	for _, f := range flagTable {
		r, ok := first["flag "+f.name]
		if !ok {
			t.Errorf("flagTable: --%s is in no release of releases.txt", f.name)
			continue
		}
		if got, want := gate(f.since), gate(r); got != want {
			t.Errorf("flagTable: --%s is gated at %s, but the proxy has it from %s: set since: version{%d, %d, %d}",
				f.name, got, want, r.major, r.minor, r.patch)
		}
	}
	for _, c := range []struct {
		key   string
		since version
	}{{"param psc", sincePSC}, {"subcommand wait", sinceWait}, {"flag exit-zero-on-sigterm", minVersion}} {
		if got, want := gate(c.since), gate(first[c.key]); got != want {
			t.Errorf("%s: the library gates it at %s, the proxy has it from %s", c.key, got, want)
		}
	}
	rendered := map[string]bool{}
	for _, f := range flagTable {
		rendered[f.name] = true
	}
	if proxycmd.Release != DefaultVersion {
		t.Errorf("proxycmd.Release %s is not DefaultVersion %s: the reader must know the default release's flags (bumpproxy moves both)", proxycmd.Release, DefaultVersion)
	}
	readable := map[string]bool{}
	for _, name := range proxycmd.FlagNames() {
		readable[name] = true
		if _, ok := first["flag "+name]; !ok {
			t.Errorf("proxycmd's v2Flags: --%s is in no release of releases.txt", name)
		}
	}
	for _, r := range rel {
		if r.Kind != proxysrc.KindFlag {
			continue
		}
		if !readable[r.Name] {
			t.Errorf("--%s (proxy %s) is missing from v2Flags (internal/proxycmd/v2.go): FromContainer would read it as an unknown flag", r.Name, r.Release)
		}
		if _, skip := notOffered[r.Name]; rendered[r.Name] == skip {
			if skip {
				t.Errorf("--%s is in flagTable and in notOffered: drop it from notOffered", r.Name)
			} else {
				t.Errorf("--%s (proxy %s) has neither an entry in flagTable (flagtable.go: an option, its release and checks) nor a reason in notOffered (flagtable_test.go)", r.Name, r.Release)
			}
		}
	}
}
