package proxycmd

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// realProxy returns the proxy binary at Release that e2e/build-real-systems.sh
// builds, or skips the test: these tests check what the readers claim
// about the proxy against the proxy itself.
func realProxy(t *testing.T) string {
	t.Helper()
	root := os.Getenv("CLOUDSQLPROXY_E2E_CACHE")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".cache", "cloudsqlproxy-e2e")
	}
	bin := filepath.Join(root, "cloud-sql-proxy-v"+Release, "cloud-sql-proxy")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no real proxy (run bash e2e/build-real-systems.sh proxy): %v", err)
	}
	return bin
}

var listeningRE = regexp.MustCompile(`\[([^\]]*)\] Listening on ([^\s"]+)`) // plain or structured (JSON) logs

// serve runs the proxy with args and only env until it is ready or exits,
// and returns what it listened on ("instance@address") and its error line.
func serve(t *testing.T, bin string, args []string, env ...string) (listeners []string, errLine string) {
	t.Helper()
	listeners, _, errLine = serveHealth(t, bin, args, env...)
	return listeners, errLine
}

// serveHealth is serve that, with --health-check in args, also waits for
// the health server and returns its address after a GET /startup
// answered 200 there.
func serveHealth(t *testing.T, bin string, args []string, env ...string) (listeners []string, health, errLine string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	wantHealth := false
	for _, a := range args {
		wantHealth = wantHealth || a == "--health-check"
	}
	ready := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if m := listeningRE.FindStringSubmatch(line); m != nil {
			listeners = append(listeners, m[1]+"@"+m[2])
		}
		if strings.HasPrefix(line, "Error:") {
			return listeners, "", line
		}
		ready = ready || strings.Contains(line, "ready for new connections")
		if m := healthRE.FindStringSubmatch(line); m != nil {
			_, port, _ := net.SplitHostPort(m[1])
			// The line comes just before the server listens.
			var resp *http.Response
			var err error
			for try := 0; try < 50; try++ {
				if resp, err = http.Get("http://127.0.0.1:" + port + "/startup"); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				return listeners, m[1], "GET /startup: " + err.Error()
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return listeners, m[1], "GET /startup: " + resp.Status
			}
			health = m[1]
		}
		if ready && (!wantHealth || health != "") {
			return listeners, health, ""
		}
	}
	return listeners, health, "exited without being ready"
}

var healthRE = regexp.MustCompile(`Starting health check server at ([^\s"]+)`)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSplitV2AgainstRealProxy runs the proxy on the shapes where splitV2
// claims something about the proxy's reading of argv and env, and checks
// that the proxy serves exactly the instances splitV2 returns (or, where
// splitV2 reports an error, that the proxy does what the error says).
func TestSplitV2AgainstRealProxy(t *testing.T) {
	bin := realProxy(t)
	const a, b = "my-project:us-central1:a", "my-project:us-central1:b"
	p1, p2 := freePort(t), freePort(t)
	ps := func(p int) string { return strconv.Itoa(p) }
	tests := []struct {
		name      string
		args      []string
		env       []string
		listeners []string
		errLine   string
	}{
		{
			name:      "a flag wins over its env var",
			args:      []string{"--port=" + ps(p1), a},
			env:       []string{"CSQL_PROXY_TOKEN=x", "CSQL_PROXY_PORT=" + ps(p2)},
			listeners: []string{a + "@127.0.0.1:" + ps(p1)},
		},
		{
			name: "env instances: the unnumbered one, then _1; _0 and a number past a gap are not read",
			env: []string{"CSQL_PROXY_TOKEN=x", "CSQL_PROXY_PORT=" + ps(p1), "CSQL_PROXY_INSTANCE_CONNECTION_NAME=" + a,
				"CSQL_PROXY_INSTANCE_CONNECTION_NAME_0=my-project:us-central1:zero", "CSQL_PROXY_INSTANCE_CONNECTION_NAME_1=" + b + "?port=" + ps(p2),
				"CSQL_PROXY_INSTANCE_CONNECTION_NAME_3=my-project:us-central1:d"},
			listeners: []string{a + "@127.0.0.1:" + ps(p1), b + "@127.0.0.1:" + ps(p2)},
		},
		{
			name:    "a numbered env instance without a first one",
			env:     []string{"CSQL_PROXY_TOKEN=x", "CSQL_PROXY_PORT=" + ps(p1), "CSQL_PROXY_INSTANCE_CONNECTION_NAME_1=" + a},
			errLine: "Error: missing instance_connection_name (e.g., project:region:instance)",
		},
		{
			name:      "env instances are not read beside argument instances",
			args:      []string{b},
			env:       []string{"CSQL_PROXY_TOKEN=x", "CSQL_PROXY_PORT=" + ps(p1), "CSQL_PROXY_INSTANCE_CONNECTION_NAME=" + a},
			listeners: []string{b + "@127.0.0.1:" + ps(p1)},
		},
		{
			name:      "instances from env come with their query",
			env:       []string{"CSQL_PROXY_TOKEN=x", "CSQL_PROXY_INSTANCE_CONNECTION_NAME_0=" + a + "?port=" + ps(p2)},
			listeners: []string{a + "@127.0.0.1:" + ps(p2)},
		},
		{
			name:      "a boolean env var with a bad value is ignored (quiet would hide the listeners)",
			args:      []string{"--port", ps(p1), a},
			env:       []string{"CSQL_PROXY_TOKEN=x", "CSQL_PROXY_QUIET=yes"},
			listeners: []string{a + "@127.0.0.1:" + ps(p1)},
		},
		{
			name:      "a boolean flag's separate value is an instance",
			args:      []string{"--token=x", "--port", ps(p1), "--private-ip", "true", a},
			listeners: []string{"true@127.0.0.1:" + ps(p1), a + "@127.0.0.1:" + ps(p1+1)},
		},
		{
			name:      "shorthands and bundles",
			args:      []string{"-t", "x", "-p" + ps(p1), "-a=127.0.0.1", "-l", a},
			listeners: []string{a + "@127.0.0.1:" + ps(p1)},
		},
		{
			name: "a long flag with one dash is read as shorthands (splitV2 reads it as the long flag)",
			args: []string{"--token=x", "-port=" + ps(p1), a},
			// pflag's wording of the value's error changed with 2.26's pflag 1.1; the
			// point is that -port is read as -p with the value "ort=...".
			errLine: `Error: invalid argument "ort=` + ps(p1) + `" for "-p, --port" flag: must be an integer`,
		},
		{
			name:    "the first positional argument after a boolean flag may be a subcommand",
			args:    []string{"--structured-logs", "wait"},
			errLine: "Error: unknown flag: --structured-logs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listeners, errLine := serve(t, bin, tt.args, tt.env...)
			if diff := cmp.Diff(tt.listeners, listeners); diff != "" {
				t.Errorf("listeners (-want +got):\n%s", diff)
			}
			if errLine != tt.errLine {
				t.Errorf("error line %q, want %q", errLine, tt.errLine)
			}
			// splitV2 agrees with the proxy wherever it reports no error.
			var env []corev1.EnvVar
			for _, e := range tt.env {
				n, v, _ := strings.Cut(e, "=")
				env = append(env, corev1.EnvVar{Name: n, Value: v})
			}
			_, insts, errs := splitV2(append([]string{V2Entrypoint}, tt.args...), env)
			if len(errs) > 0 || tt.errLine != "" {
				return
			}
			var names, served []string
			for _, in := range insts {
				n, _, _ := strings.Cut(in.Value, "?")
				names = append(names, n)
			}
			for _, l := range listeners {
				n, _, _ := strings.Cut(l, "@")
				served = append(served, n)
			}
			if diff := cmp.Diff(served, names); diff != "" {
				t.Errorf("splitV2 instances against the proxy's (-proxy +splitV2):\n%s", diff)
			}
		})
	}
}

// TestTranslateV1AgainstRealProxy runs the proxy on every TCP translation
// of TestTranslateV1's kind (ports swapped for free ones) and checks that
// it starts and listens where v1 listened.
func TestTranslateV1AgainstRealProxy(t *testing.T) {
	bin := realProxy(t)
	const a, b = "my-project:us-central1:orders", "my-project:us-central1:users"
	tests := [][]string{
		{"-instances=" + a + "=tcp:5432", "-credential_file=/secrets/key.json"},
		{"-instances=" + a + "=tcp:5432", "-use_http_health_check", "-health_check_port=8091"},
		{"-instances=" + a + "=tcp:0.0.0.0:5432," + b + "=tcp:localhost:5433", "-instances=" + a + "=tcp6:5434," + b + "=tcp::5435", "-dir=/unused"},
		{"-instances=" + a + "=tcp:[::1]:5432", "-enable_iam_login", "-token=t", "-login_token=l", "-term_timeout=1m", "-max_connections=010",
			"-ip_address_types=PRIVATE", "-skip_failed_instance_config", "-structured_logs", "-verbose=false", "-host=https://sqladmin.googleapis.com/", "-quota_project=q"},
		{"-instances=" + a + "=tcp:5432", "-ip_address_types=PUBLIC,PRIVATE", "-check_region", "-fd_rlimit=1024", "-refresh_config_throttle=5s", "-log_debug_stdout"},
	}
	portRE := regexp.MustCompile(`((?:^--http-port=)|(?:[?&]port=))(\d+)`)
	for _, v1 := range tests {
		t.Run(strings.Join(v1, " "), func(t *testing.T) {
			v2, errs := TranslateV1(append([]string{"/cloud_sql_proxy"}, v1...))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var args, want []string
			hasCreds := false
			for _, arg := range v2 {
				arg = portRE.ReplaceAllStringFunc(arg, func(m string) string {
					sm := portRE.FindStringSubmatch(m)
					return sm[1] + strconv.Itoa(freePort(t))
				})
				if strings.HasPrefix(arg, "--credentials-file=") {
					// Offline there is no key file: a token stands in, which
					// the proxy rejects beside --credentials-file.
					hasCreds = true
					continue
				}
				args = append(args, arg)
				if strings.HasPrefix(arg, "-") {
					continue
				}
				name, query, _ := strings.Cut(arg, "?")
				q, _ := url.ParseQuery(query)
				addr := q.Get("address")
				if addr == "" {
					addr = "127.0.0.1"
				}
				want = append(want, name+"@"+net.JoinHostPort(addr, q.Get("port")))
			}
			if hasCreds || !strings.Contains(strings.Join(args, " "), "--token=") {
				args = append(args, "--token=x")
			}
			for i, arg := range args {
				if arg == "--quiet" {
					// It hides the listeners this test reads; it conflicts
					// with no flag.
					args = append(args[:i], args[i+1:]...)
					break
				}
			}
			listeners, health, errLine := serveHealth(t, bin, args)
			if errLine != "" {
				t.Fatalf("the proxy refused %q: %s", args, errLine)
			}
			for _, arg := range args {
				if port, ok := strings.CutPrefix(arg, "--http-port="); ok && health != "0.0.0.0:"+port {
					// v1's health server bound every interface: the
					// kubelet probes the pod IP.
					t.Errorf("health server on %q, want 0.0.0.0:%s", health, port)
				}
			}
			if diff := cmp.Diff(want, listeners); diff != "" {
				t.Errorf("listeners of %q (-want +got):\n%s", args, diff)
			}
		})
	}
}
