package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podspec/cloudsqlproxy"
)

// olderProxy is the newest release before 2.27's built-in metrics flags: the gating test
// runs it beside the default release.
const olderProxy = "2.26.3"

// TestBuiltInMetricsGating proves the 2.27 gates on both sides with the real binaries:
// the default release serves with every metrics option the library renders, the older
// release refuses those very flags ("unknown flag", exit 1), and the library refuses the
// options for an image of the older release, except WithBuiltInMetrics(false), which it
// renders as nothing there and the older release then serves.
func TestBuiltInMetricsGating(t *testing.T) {
	t.Parallel()
	older, err := RealProxyAt(olderProxy)
	if err != nil {
		t.Fatal(err)
	}
	newest, err := RealBinary(ComponentProxy)
	if err != nil {
		t.Fatal(err)
	}
	api := newAPIProbe(t)
	if err := api.fake.register(inst1); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts []cloudsqlproxy.Option
		flag string // the flag the option renders
	}{
		{"on", []cloudsqlproxy.Option{cloudsqlproxy.WithBuiltInMetrics(true)}, "--enable-builtin-metrics"},
		{"off", []cloudsqlproxy.Option{cloudsqlproxy.WithBuiltInMetrics(false)}, "--enable-builtin-metrics"},
		{"application-name", []cloudsqlproxy.Option{cloudsqlproxy.WithApplicationName("checkout api")}, "--application-name"},
		{"gce", []cloudsqlproxy.Option{cloudsqlproxy.WithComputePlatform("gce")}, "--compute-platform"},
		{"gke", []cloudsqlproxy.Option{cloudsqlproxy.WithComputePlatform("gke")}, "--compute-platform"},
		{"cloud_run", []cloudsqlproxy.Option{cloudsqlproxy.WithComputePlatform("cloud_run")}, "--compute-platform"},
		{"app_engine", []cloudsqlproxy.Option{cloudsqlproxy.WithComputePlatform("app_engine")}, "--compute-platform"},
		{"cloud_functions", []cloudsqlproxy.Option{cloudsqlproxy.WithComputePlatform("cloud_functions")}, "--compute-platform"},
		{"ai_studio", []cloudsqlproxy.Option{cloudsqlproxy.WithComputePlatform("ai_studio")}, "--compute-platform"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port, health := freePort(t, 1), freePort(t, 1)
			base := []cloudsqlproxy.Option{cloudsqlproxy.WithPort(port), cloudsqlproxy.WithHealthPort(health)}
			p, err := cloudsqlproxy.New(inst1, append(base, c.opts...)...)
			if err != nil {
				t.Fatalf("New at %s: %v", cloudsqlproxy.DefaultVersion, err)
			}
			args := p.Container().Args
			if !hasFlag(args, c.flag) {
				t.Fatalf("%s not rendered: %q", c.flag, args)
			}
			kill(proxyProcessOf(t, newest.Path, api, args, health, nil, nil))

			if code, out := runToExit(t, older.Path, args); code != 1 || !strings.Contains(out, "unknown flag: "+c.flag) {
				t.Errorf("proxy %s on %q: exit %d, want 1 with \"unknown flag: %s\":\n%s", olderProxy, args, code, c.flag, out)
			}

			old, err := cloudsqlproxy.New(inst1, append(append(base, cloudsqlproxy.WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:"+olderProxy)), c.opts...)...)
			if c.name != "off" {
				if err == nil || !strings.Contains(err.Error(), c.flag+" needs proxy 2.27.0 or newer") {
					t.Errorf("New at %s: %v, want the version error for %s", olderProxy, err, c.flag)
				}
				return
			}
			if err != nil {
				t.Fatalf("New at %s: %v", olderProxy, err)
			}
			if args := old.Container().Args; hasFlag(args, c.flag) {
				t.Fatalf("%s rendered for %s: %q", c.flag, olderProxy, args)
			}
			kill(proxyProcessOf(t, older.Path, api, old.Container().Args, health, nil, nil))
		})
	}
	t.Run("unknown platform", func(t *testing.T) {
		port, health := freePort(t, 1), freePort(t, 1)
		args := []string{fmt.Sprintf("--port=%d", port), fmt.Sprintf("--http-port=%d", health), "--compute-platform=kubernetes", inst1}
		if code, out := runToExit(t, newest.Path, args); code != 1 || !strings.Contains(out, "invalid value for --compute-platform") {
			t.Errorf("the proxy on --compute-platform=kubernetes: exit %d:\n%s", code, out)
		}
		if _, err := cloudsqlproxy.New(inst1, cloudsqlproxy.WithComputePlatform("kubernetes")); err == nil {
			t.Error("New took a platform the proxy refuses")
		}
	})
}

// kill stops a proxy that proved it serves, so that the next run can take its ports.
func kill(p *process, _ *syncBuffer) {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.waitExit(10 * time.Second)
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// runToExit runs a proxy that must refuse its command line, with the credentials and
// endpoint every run here gets, and returns its exit status and output.
func runToExit(t *testing.T, bin string, args []string) (int, string) {
	t.Helper()
	cmd := exec.Command(runnableCopy(t, bin), append(args, "--token=test", "--sqladmin-api-endpoint=http://127.0.0.1:1/")...)
	cmd.Env = offlineEnv(t.TempDir())
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%q did not exit:\n%s", args, out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}
