package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/podspec/cloudsqlproxy"
)

var update = flag.Bool("update", false, "rewrite the golden files")

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(stdin string, args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

const inst = "my-project:us-central1:db"

// goldenCases run the command on testdata inputs; stdout and stderr are
// compared with testdata/golden/<name>.out and .err.
var goldenCases = []struct {
	name string
	args []string
	code int
}{
	{"mixed", []string{"inject", "--instance", inst, "-f", "testdata/mixed.yaml"}, 0},
	{"mixed-job-mode", []string{"inject", "--instance", inst, "--job-timeout", "0s", "-f", "testdata/mixed.yaml"}, 0},
	{"mixed-legacy", []string{"inject", "--instance", inst, "--legacy-sidecar", "--job-timeout", "10m", "-f", "testdata/mixed.yaml"}, 0},
	{"selector", []string{"inject", "--instance", inst, "--selector", "app in (web,worker),tier!=frontend", "-f", "testdata/mixed.yaml"}, 0},
	{"names", []string{"inject", "--instance", inst, "--name", "prod/web", "--name", "cache", "--name", "staging/web", "-f", "testdata/mixed.yaml"}, 0},
	{"json-stream", []string{"inject", "--instance", inst, "--port-env", "DB_PORT", "-f", "testdata/stream.json"}, 0},
	{"newer-fields", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/newer-fields.yaml"}, 0},
	{"newer-fields-removed", []string{"remove", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/golden/newer-fields.out"}, 0},
	{"all-flags", append([]string{"inject"}, append(allFlags, "-f", "testdata/newer-fields.yaml")...), 0},
	{"all-flags-job", append([]string{"inject", "--job-timeout", "15m"}, append(allFlags, "-f", "testdata/mixed.yaml", "--name", "prod/nightly")...), 0},
	{"pod-level-resources", []string{"inject", "--instance", inst, "-f", "testdata/pod-level-resources.yaml"}, 1},
	{"pod-level-resources-room", []string{"inject", "--instance", inst, "--name", "roomy", "-f", "testdata/pod-level-resources.yaml"}, 0},
	{"two-files", []string{"inject", "--instance", inst, "-f", "testdata/stream.json", "-f", "testdata/unknown-kinds.yaml"}, 0},
	{"unknown-kinds", []string{"inject", "--instance", inst, "-f", "testdata/unknown-kinds.yaml"}, 0},
	{"empty", []string{"inject", "--instance", inst, "-f", "testdata/empty.yaml"}, 1},
	{"blank", []string{"inject", "--instance", inst, "-f", "testdata/blank.yaml"}, 1},
	{"errors", []string{"inject", "--instance", inst, "-f", "testdata/errors.yaml"}, 1},
	{"malformed", []string{"inject", "--instance", inst, "-f", "testdata/malformed.yaml"}, 1},
	{"legacy-job", []string{"inject", "--instance", inst, "--legacy-sidecar", "-f", "testdata/mixed.yaml"}, 1},
	{"missing-file", []string{"inject", "--instance", inst, "-f", "testdata/no-such-file.yaml", "-f", "testdata/mixed.yaml"}, 1},
	{"config-errors", []string{"inject", "--instance", "my-project:us-central1:db?port=99999&ssl=true", "--instance", "Bad Name",
		"--port", "70000", "--health-port", "0", "--container-name", "Proxy_1", "--image-pull-policy", "Sometimes",
		"--listen-address", "localhost", "--private-ip", "--psc", "--credentials-secret-key", "k",
		"--impersonate", "sa@example.iam.gserviceaccount.com,not-an-email", "--quiet", "--debug-logs",
		"--telemetry-sample-rate", "-1", "--startup-probe", "period=-1", "--cpu-request", "2", "--cpu-limit", "1",
		"--min-sigterm-delay", "-5s", "--sqladmin-api-endpoint", "ftp://x", "--universe-domain", "example.com",
		"--host-env", "9X", "--app-env", "other-project:us-central1:db:port=DB_PORT",
		"--job-timeout", "1500ms", "-f", "testdata/mixed.yaml"}, 1},
	{"version-too-old", []string{"inject", "--instance", inst, "--image", "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.4.0",
		"--psc", "--lazy-refresh", "-f", "testdata/mixed.yaml"}, 1},
	{"splice-crlf", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/splice/crlf.yaml"}, 0},
	{"splice-crlf-no-final-newline", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/splice/crlf-no-final-newline.yaml"}, 0},
	{"splice-flow", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/splice/flow.yaml"}, 0},
	{"splice-helm", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/splice/helm.yaml"}, 0},
	{"splice-indent4", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/splice/indent4.yaml"}, 0},
	{"splice-kubectl-json", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/splice/kubectl.json"}, 0},
	{"splice-kubectl", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/splice/kubectl.yaml"}, 0},
	{"splice-no-final-newline", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/splice/no-final-newline.yaml"}, 0},
	{"splice-quoted", []string{"inject", "--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET", "-f", "testdata/splice/quoted.yaml"}, 0},
	{"splice-helm-tests", []string{"inject", "--instance", inst, "--include-helm-tests", "--host-env", "DB_HOST", "-f", "testdata/splice/helm.yaml"}, 0},
	{"splice-kubectl-tcp", []string{"inject", "--instance", inst, "--host-env", "DB_HOST", "--port-env", "DB_PORT", "-f", "testdata/splice/kubectl.yaml", "-f", "testdata/splice/kubectl.json"}, 0},
	{"usage-unknown-flag", []string{"inject", "--instance", inst, "--bogus", "-f", "-"}, 2},
	{"usage-bad-port", []string{"inject", "--instance", inst, "--port", "http", "-f", "-"}, 2},
	{"usage-bad-duration", []string{"inject", "--instance", inst, "--job-timeout", "30", "-f", "-"}, 2},
	{"usage-bad-quantity", []string{"inject", "--instance", inst, "--memory-limit", "lots", "-f", "-"}, 2},
	{"usage-bad-probe", []string{"inject", "--instance", inst, "--startup-probe", "period=1,every=2", "-f", "-"}, 2},
	{"usage-bad-app-env", []string{"inject", "--instance", inst, "--app-env", "DB_HOST", "-f", "-"}, 2},
	{"usage-bad-selector", []string{"inject", "--instance", inst, "--selector", "app in web", "-f", "-"}, 2},
	{"usage-bad-name", []string{"inject", "--instance", inst, "--name", "prod/", "-f", "-"}, 2},
	{"no-instance", []string{"inject", "-f", "testdata/mixed.yaml"}, 0},
	{"usage-no-input", []string{"inject", "--instance", inst}, 2},
	{"usage-stdin-twice", []string{"inject", "--instance", inst, "-f", "-", "-f", "-"}, 2},
	{"usage-positional", []string{"inject", "--instance", inst, "deployment.yaml"}, 2},
	{"usage-prometheus-namespace", []string{"inject", "--instance", inst, "--prometheus-namespace", "db", "-f", "-"}, 2},
	{"metrics-labels", []string{"inject", "--instance", inst, "--application-name-from-workload", "--compute-platform", "gke", "--job-timeout", "10m", "-f", "testdata/mixed.yaml"}, 0},
	{"metrics-labels-old-image", []string{"inject", "--instance", inst, "--application-name-from-workload", "--image", "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.26.3", "--name", "prod/web", "-f", "testdata/mixed.yaml"}, 1},
	{"usage-application-name-twice", []string{"inject", "--instance", inst, "--application-name", "shop", "--application-name-from-workload", "-f", "-"}, 2},
	{"usage-unknown-command", []string{"inejct"}, 2},
	{"usage-no-command", nil, 2},
}

// allFlags sets every option the library has, to values that go together.
var allFlags = []string{
	"--instance", inst + "?port=6000&auto-iam-authn=true",
	"--instance", "my-project:europe-west1:replica?private-ip=true",
	"--listen-address", "127.0.0.2",
	"--health-port", "9900", "--admin-port", "9191",
	"--container-name", "sql", "--image", "eu.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3-alpine",
	"--proxy-version", "2.25.3", "--image-pull-policy", "Always",
	"--cpu-request", "50m", "--memory-limit", "256Mi",
	"--psc=false", "--auto-iam-authn",
	"--credentials-secret", "sql-key", "--credentials-secret-key", "key.json",
	"--impersonate", "a@example.iam.gserviceaccount.com, b@example.iam.gserviceaccount.com",
	"--lazy-refresh", "--max-connections", "100", "--min-sigterm-delay", "5s", "--max-sigterm-delay", "30s",
	"--debug-logs", "--prometheus", "--prometheus-namespace", "csql",
	"--telemetry-project", "my-project", "--telemetry-prefix", "cloudsql", "--telemetry-sample-rate", "100", "--disable-traces",
	"--quitquitquit", "--debug-server", "--quota-project", "billing-project",
	"--sqladmin-api-endpoint", "https://sqladmin.example.com",
	"--startup-probe", "period=2,failure=30,timeout=3,delay=1", "--liveness-probe", "period=20", "--readiness-probe", "default",
	"--host-env", "DB_HOST", "--port-env", "DB_PORT",
	"--app-env", "my-project:europe-west1:replica:host=REPLICA_HOST,port=REPLICA_PORT",
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			got := runCLI("", tc.args...)
			if got.code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", got.code, tc.code, got.stderr)
			}
			if tc.code != 0 && got.stdout != "" {
				t.Errorf("failed run wrote to stdout:\n%s", got.stdout)
			}
			checkGolden(t, filepath.Join("testdata", "golden", tc.name+".out"), got.stdout)
			checkGolden(t, filepath.Join("testdata", "golden", tc.name+".err"), got.stderr)
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// TestIdempotent runs inject again on each successful output: nothing may
// change, byte for byte.
func TestIdempotent(t *testing.T) {
	for _, tc := range goldenCases {
		if tc.code != 0 || tc.args[0] != "inject" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			first := runCLI("", tc.args...)
			args := replaceInputs(tc.args)
			second := runCLI(first.stdout, args...)
			if second.code != 0 {
				t.Fatalf("second run: exit %d\n%s", second.code, second.stderr)
			}
			if diff := cmp.Diff(first.stdout, second.stdout); diff != "" {
				t.Errorf("inject changed its own output (-first +second):\n%s", diff)
			}
		})
	}
}

// replaceInputs turns the -f arguments of args into a single "-f -".
func replaceInputs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-f" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return append(out, "-f", "-")
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // a line the text starts with
	}{
		{[]string{"--help"}, "cloudsqlproxy adds"},
		{[]string{"-h"}, "cloudsqlproxy adds"},
		{[]string{"help"}, "cloudsqlproxy adds"},
		{[]string{"help", "inject"}, "Usage: cloudsqlproxy inject"},
		{[]string{"inject", "--help"}, "Usage: cloudsqlproxy inject"},
		{[]string{"inject", "-h"}, "Usage: cloudsqlproxy inject"},
		{[]string{"remove", "--help"}, "Usage: cloudsqlproxy remove"},
		{[]string{"help", "remove"}, "Usage: cloudsqlproxy remove"},
		{[]string{"help", "version"}, "Usage: cloudsqlproxy version"},
	} {
		got := runCLI("", tc.args...)
		if got.code != 0 || got.stderr != "" || !strings.HasPrefix(got.stdout, tc.want) {
			t.Errorf("%q: exit %d, stdout starts %q, stderr %q; want exit 0 and stdout starting %q",
				tc.args, got.code, firstLine(got.stdout), got.stderr, tc.want)
		}
	}
	if got := runCLI("", "help", "nope"); got.code != 2 {
		t.Errorf("help nope: exit %d, want 2", got.code)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestHelpListsEveryFlag holds the hand-written help to the flags that
// exist, both ways.
func TestHelpListsEveryFlag(t *testing.T) {
	help := injectHelp()
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	var f flags
	f.register(fs)
	registerFilterFlags(fs)
	registerOutputFlags(fs)
	defined := map[string]bool{}
	fs.VisitAll(func(fl *flag.Flag) {
		defined[fl.Name] = true
		spelled := "--" + fl.Name
		if len(fl.Name) == 1 {
			spelled = "-" + fl.Name
		}
		if !regexp.MustCompile(regexp.QuoteMeta(spelled) + `\b`).MatchString(help) {
			t.Errorf("flag %s is not in the help", spelled)
		}
	})
	for _, m := range regexp.MustCompile(`(?:^|[\s(',])--([a-z][a-z-]*)`).FindAllStringSubmatch(help, -1) {
		if !defined[m[1]] && m[1] != "help" {
			t.Errorf("the help mentions --%s, which is not a flag", m[1])
		}
	}
	// The help's lines fit a terminal.
	for _, l := range strings.Split(help, "\n") {
		if len(l) > 100 {
			t.Errorf("help line longer than 100 characters: %q", l)
		}
	}
}

// TestHelpDefaults checks that the defaults the help states are the
// library's.
func TestHelpDefaults(t *testing.T) {
	help := injectHelp()
	for _, want := range []string{
		cloudsqlproxy.DefaultImage,
		"(default " + cloudsqlproxy.DefaultName + ")",
		"(default 5432)",
		"(default 9801)",
		"(default 9091)",
		"cpu 100m and memory 128Mi",
		"startup\n                            period=1,timeout=5,failure=60,",
		"liveness\n                            period=10,timeout=10,failure=3.",
		"('default':\n                            period=10,timeout=5,failure=3)",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("the help does not say %q", want)
		}
	}
}

func TestVersion(t *testing.T) {
	got := runCLI("", "version")
	if got.code != 0 || got.stderr != "" {
		t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
	}
	for _, want := range []string{"cloudsqlproxy ", "default proxy image: " + cloudsqlproxy.DefaultImage, "k8s.io/api"} {
		if !strings.Contains(got.stdout, want) {
			t.Errorf("version output %q lacks %q", got.stdout, want)
		}
	}
	if got := runCLI("", "version", "extra"); got.code != 2 {
		t.Errorf("version extra: exit %d, want 2", got.code)
	}
}

// TestEveryOptionHasAFlag checks that each option of the library is named
// by a flag, so a new option cannot be forgotten by the CLI.
func TestEveryOptionHasAFlag(t *testing.T) {
	src, err := os.ReadFile("../../options.go")
	if err != nil {
		t.Fatal(err)
	}
	names := (&flags{}).namer()
	var missing []string
	for _, m := range regexp.MustCompile(`(?m)^func ((?:With|For)[A-Za-z]+)\(`).FindAllStringSubmatch(string(src), -1) {
		name := m[1]
		if _, ok := names[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("options without a flag (optionFlags, proxyFlags): %v", missing)
	}
}
