package cloudsqlproxy_test

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podspec/cloudsqlproxy"
)

const limitsInst = "my-project:us-central1:db"

// fieldPaths returns the field of every field error in err, which must wrap
// sentinel.
func fieldPaths(t *testing.T, err, sentinel error) []string {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("error does not wrap %q: %v", sentinel, err)
	}
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		t.Fatalf("error holds no Aggregate of field errors: %v", err)
	}
	var out []string
	for _, e := range agg.Errors() {
		var fe *field.Error
		if !errors.As(e, &fe) {
			t.Fatalf("not a *field.Error: %T %v", e, e)
		}
		out = append(out, fe.Field)
	}
	return out
}

// TestVolumeNamesStayLabels: the proxy's volumes are named after its
// container, and the API server rejects a volume name that is not a DNS-1123
// label (at most 63 characters). "-credentials" is the longer suffix, so a
// container name of 52 or more characters must be refused as soon as the
// proxy has any volume, not only a credentials volume; without volumes the
// container name's own limit (63) applies.
func TestVolumeNamesStayLabels(t *testing.T) {
	configs := []struct {
		name    string
		opts    []cloudsqlproxy.Option
		volumes int
		max     int // the longest container name New accepts
	}{
		{"no volumes", nil, 0, 63},
		{"credentials secret", []cloudsqlproxy.Option{cloudsqlproxy.WithCredentialsSecret("sql-key")}, 1, 51},
		// Only "-sockets" (8 bytes) follows the name, not "-credentials".
		{"unix socket", []cloudsqlproxy.Option{cloudsqlproxy.WithUnixSocket("/cloudsql")}, 1, 55},
		{"both", []cloudsqlproxy.Option{cloudsqlproxy.WithCredentialsSecret("sql-key"), cloudsqlproxy.WithUnixSocket("/cloudsql")}, 2, 51},
	}
	for _, cfg := range configs {
		for _, n := range []int{1, 51, 52, 53, 55, 56, 63, 64} {
			name := strings.Repeat("p", n)
			t.Run(fmt.Sprintf("%s/%d characters", cfg.name, n), func(t *testing.T) {
				opts := append([]cloudsqlproxy.Option{cloudsqlproxy.WithName(name)}, cfg.opts...)
				p, err := cloudsqlproxy.New(limitsInst, opts...)
				if n > cfg.max {
					if err == nil {
						t.Fatalf("New accepted a %d-character name; volumes %q", n, volumeNames(p.Volumes()))
					}
					// Past 63 the name is also no label itself: two
					// errors, both about WithName.
					got := slices.Compact(fieldPaths(t, err, cloudsqlproxy.ErrInvalidConfig))
					if diff := cmp.Diff([]string{"WithName"}, got); diff != "" {
						t.Errorf("fields at fault (-want +got):\n%s\nerror: %v", diff, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("New with a %d-character name: %v", n, err)
				}
				vols := volumeNames(p.Volumes())
				if len(vols) != cfg.volumes {
					t.Fatalf("volumes %q, want %d: the case no longer covers what it names", vols, cfg.volumes)
				}
				for _, v := range vols {
					for _, msg := range validation.IsDNS1123Label(v) {
						t.Errorf("volume name %q (%d characters) is not a DNS-1123 label: %s", v, len(v), msg)
					}
				}
				if got := p.Container().Name; got != name {
					t.Errorf("container name %q, want %q", got, name)
				}
			})
		}
	}
}

func volumeNames(vs []corev1.Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

// TestSocketPathLimit: a PostgreSQL socket is <dir>/<connection name>/.s.PGSQL.5432,
// and sun_path holds 108 bytes including the terminating NUL, so 107 bytes is
// the longest path the proxy can bind. The directory is sized to land on
// each side of the limit for connection names of several lengths.
func TestSocketPathLimit(t *testing.T) {
	const suffix = "/.s.PGSQL.5432"
	long := "example.com:my-long-project-name:europe-west1:orders"
	tests := []struct {
		name      string
		instances []string // the first is New's argument
		longest   string   // the connection name that sets the limit
	}{
		{"one instance", []string{limitsInst}, limitsInst},
		{"domain-scoped project", []string{long}, long},
		// The query parameters are not part of the socket's name.
		{"query parameters", []string{limitsInst + "?auto-iam-authn=true"}, limitsInst},
		// Every instance has its own socket, and the longest must fit.
		{"longest second", []string{limitsInst, long}, long},
	}
	for _, tt := range tests {
		for _, n := range []int{107, 108} {
			t.Run(fmt.Sprintf("%s/%d bytes", tt.name, n), func(t *testing.T) {
				dirLen := n - len("/"+tt.longest+suffix)
				dir := "/" + strings.Repeat("s", dirLen-1)
				path := dir + "/" + tt.longest + suffix
				if len(path) != n {
					t.Fatalf("test arithmetic: path %q has %d bytes, want %d", path, len(path), n)
				}
				opts := []cloudsqlproxy.Option{cloudsqlproxy.WithUnixSocket(dir)}
				for _, in := range tt.instances[1:] {
					opts = append(opts, cloudsqlproxy.WithInstance(in))
				}
				p, err := cloudsqlproxy.New(tt.instances[0], opts...)
				if n > 107 {
					if err == nil {
						t.Fatalf("New accepted the %d-byte socket path %s", n, path)
					}
					if diff := cmp.Diff([]string{"WithUnixSocket"}, fieldPaths(t, err, cloudsqlproxy.ErrInvalidConfig)); diff != "" {
						t.Errorf("field errors (-want +got):\n%s\nerror: %v", diff, err)
					}
					for _, want := range []string{path, fmt.Sprint(n), "107"} {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("error does not mention %q: %v", want, err)
						}
					}
					return
				}
				if err != nil {
					t.Fatalf("New with the %d-byte socket path %s: %v", n, path, err)
				}
				if args := p.Container().Args; !slices.Contains(args, "--unix-socket="+dir) {
					t.Errorf("arguments %q lack --unix-socket=%s", args, dir)
				}
			})
		}
	}
}

// TestSocketPathLimitIsGos backs the 107 of TestSocketPathLimit with the
// real thing: the proxy is a Go program, and Go's net package binds a
// 107-byte Unix socket path and refuses a 108-byte one.
func TestSocketPathLimitIsGos(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		n  int
		ok bool
	}{{107, true}, {108, false}} {
		pad := tt.n - len(dir) - 1
		if pad < 1 {
			t.Skipf("the temporary directory %s is too long", dir)
		}
		path := dir + "/" + strings.Repeat("s", pad)
		l, err := net.Listen("unix", path)
		if err == nil {
			l.Close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("listening on a %d-byte path: %v, want success %v", len(path), err, tt.ok)
		}
	}
}
