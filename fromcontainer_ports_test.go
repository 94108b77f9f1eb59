package cloudsqlproxy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// TestAdoptPortNumbering pins the listener ports of adopted instances that
// have no port of their own. The proxy numbers those from --port (or
// CSQL_PROXY_PORT) on and skips the instances with their own ?port=
// (internal/proxy/proxy.go, portConfig.nextPort, v2.25.3), where New numbers
// each from the previous instance's port; e2e's
// TestAdoptListenersAgainstRealProxy runs the same shapes under the real
// proxy. WithPort given after the adopted options still moves the first
// instance and those numbered from it.
func TestAdoptPortNumbering(t *testing.T) {
	const a, b, c = "my-project:us-central1:a", "my-project:us-central1:b", "my-project:us-central1:c"
	tests := []struct {
		name  string
		args  []string
		env   []corev1.EnvVar
		extra []Option
		want  []string
		// wantErr is New's error, when the proxy could not run the
		// original either.
		wantErr string
	}{
		{name: "all numbered from --port", args: []string{"--port=6000", a, b, c},
			want: []string{a + "?port=6000", b + "?port=6001", c + "?port=6002"}},
		{name: "an instance with its own port does not count", args: []string{"--port=6000", a, b + "?port=7000", c},
			want: []string{a + "?port=6000", b + "?port=7000", c + "?port=6001"}},
		{name: "CSQL_PROXY_PORT the same", args: []string{a, b + "?port=7000", c}, env: []corev1.EnvVar{{Name: "CSQL_PROXY_PORT", Value: "6000"}},
			want: []string{a + "?port=6000", b + "?port=7000", c + "?port=6001"}},
		{name: "a first instance with its own port: --port numbers the others", args: []string{"--port=6000", a + "?port=5000", b, c},
			want: []string{a + "?port=5000", b + "?port=6000", c + "?port=6001"}},
		{name: "a first instance with its own port: the next numbered right after it", args: []string{"--port=5001", a + "?port=5000", b},
			want: []string{a + "?port=5000", b + "?port=5001"}},
		{name: "a first instance with its own port: CSQL_PROXY_PORT the same", args: []string{a + "?port=5000", b}, env: []corev1.EnvVar{{Name: "CSQL_PROXY_PORT", Value: "6000"}},
			want: []string{a + "?port=5000", b + "?port=6000"}},
		{name: "a first instance with its own port: --port numbers nothing", args: []string{"--port=6000", a + "?port=5000"},
			want: []string{a + "?port=5000"}},
		{name: "an own port above the next number", args: []string{"--port=6000", a, b + "?port=6002", c},
			want: []string{a + "?port=6000", b + "?port=6002", c + "?port=6001"}},
		{name: "an own port the proxy numbers another instance with is refused, as the proxy fails to bind it",
			args: []string{"--port=6000", a, b + "?port=6001", c}, wantErr: "WithInstance[1][port]: Invalid value: 6001: is also the port of instance " + b},
		{name: "WithPort after the adopted options moves the numbered ones", args: []string{"--port=6000", a, b},
			extra: []Option{WithPort(9000)}, want: []string{a + "?port=9000", b + "?port=9001"}},
		{name: "WithPort after the adopted options leaves an instance numbered past its own port", args: []string{"--port=6000", a, b + "?port=7000", c},
			extra: []Option{WithPort(9000)}, want: []string{a + "?port=9000", b + "?port=7000", c + "?port=6001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := corev1.Container{Name: "cloud-sql-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1", Args: tt.args, Env: tt.env}
			insts, opts, err := FromContainer(old, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range insts[1:] {
				opts = append(opts, WithInstance(in))
			}
			p, err := New(insts[0], append(opts, tt.extra...)...)
			if tt.wantErr != "" || err != nil {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || tt.wantErr == "" {
					t.Fatalf("New: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			var got []string
			for _, arg := range p.Container().Args {
				if arg[0] != '-' {
					got = append(got, arg)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("instances (-want +got):\n%s", diff)
			}
		})
	}
}
