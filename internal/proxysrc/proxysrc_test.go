package proxysrc

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The shapes of flag registration that 2.x releases used, one of each.
const rootGoShapes = `
const httpAddressFlag = "http-address"
	pflags.StringVar(&c.conf.Token, "token", "", "...")
	pflags.BoolVarP(&c.conf.IAMAuthN, "auto-iam-authn", "i", false, "...")
	rootCmd.PersistentFlags().BoolVar(&c.conf.Quiet, "quiet", false, "...")
	localFlags.Uint64Var(&c.conf.MaxConnections, "max-connections", 0, "...")
	localFlags.DurationVar(&c.conf.WaitOnClose, "max-sigterm-delay", 0, "...")
	localFlags.BoolP("help", "h", false, "...")
	globalFlags.StringVar(&c.conf.HTTPAddress, httpAddressFlag, "localhost", "...")
	waitFlags.DurationP("max", "m", 30*time.Second, "...")
	shutdownFlags.StringVar(&port, "admin-port", "9091", "...")
		Use:     "cloud-sql-proxy INSTANCE_CONNECTION_NAME...",
		Use:   "wait",
		Use:   "shutdown",
			a, aok := q["address"]
			if q.Get("unix-socket-path") != "" {
			ic.PSC, err = parseBoolOpt(q, "psc")
`

func TestRootFlags(t *testing.T) {
	want := []Flag{
		{Name: "auto-iam-authn", Short: 'i'},
		{Name: "help", Short: 'h'},
		{Name: "http-address", Value: true},
		{Name: "max-connections", Value: true},
		{Name: "max-sigterm-delay", Value: true},
		{Name: "quiet"},
		{Name: "token", Value: true},
	}
	if diff := cmp.Diff(want, RootFlags([]byte(rootGoShapes))); diff != "" {
		t.Errorf("RootFlags (-want +got):\n%s", diff)
	}
}

func TestParamsAndSubcommands(t *testing.T) {
	if diff := cmp.Diff([]string{"address", "psc", "unix-socket-path"}, Params([]byte(rootGoShapes))); diff != "" {
		t.Errorf("Params (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"shutdown", "wait"}, Subcommands([]byte(rootGoShapes))); diff != "" {
		t.Errorf("Subcommands (-want +got):\n%s", diff)
	}
}

func TestParseReleases(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Introduced
		err      string
	}{
		{"entries, comments and blank lines", "# c\n\nflag quiet 2.0.0\n  param psc 2.5.0  \nsubcommand wait 2.8.0\n",
			[]Introduced{{KindFlag, "quiet", "2.0.0"}, {KindParam, "psc", "2.5.0"}, {KindSubcommand, "wait", "2.8.0"}}, ""},
		{"unknown kind", "option quiet 2.0.0\n", nil, `releases.txt:1: want "flag|param|subcommand NAME RELEASE", got "option quiet 2.0.0"`},
		{"missing release", "# c\nflag quiet\n", nil, `releases.txt:2: want`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReleases([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error %v, want one starting %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestReleasesTable checks the embedded table itself: it parses, names
// each thing once, and dates it with a 2.x release.
func TestReleasesTable(t *testing.T) {
	rel, err := Releases()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rel {
		key := r.Kind + " " + r.Name
		if seen[key] {
			t.Errorf("%s listed twice", key)
		}
		seen[key] = true
		if !strings.HasPrefix(r.Release, "2.") || strings.Count(r.Release, ".") != 2 {
			t.Errorf("%s: release %q is not a 2.x.y version", key, r.Release)
		}
	}
	if len(rel) < 60 {
		t.Errorf("only %d entries; the table lists every flag, parameter and subcommand since 2.0.0", len(rel))
	}
}
