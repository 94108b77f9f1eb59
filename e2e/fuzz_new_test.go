package e2e_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/e2e"
)

// FuzzNewValidates is the part of the library's FuzzNew that needs the API
// server's code, which the library's own module must not depend on: every
// configuration New accepts, attached to a simple pod, is a pod that the
// apiserver's validation and Pod Security "restricted" accept silently, that
// passes e2e.CheckPodSpec, and whose commands, arguments and environment
// values the kubelet passes on unchanged. It reads the seeds of FuzzNew
// (../testdata/fuzz/FuzzNew), including the hostile ones; run it with
//
//	go test -run '^$' -fuzz '^FuzzNewValidates$' -fuzztime 60s .
func FuzzNewValidates(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("..", "testdata", "fuzz", "FuzzNew", "*"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds under ../testdata/fuzz/FuzzNew: %v", err)
	}
	sort.Strings(seeds)
	for _, path := range seeds {
		args, err := readCorpusFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(args...)
	}
	fuzzNewTarget(f, func(t *testing.T, in fuzzNewInput) {
		p, err := cloudsqlproxy.New(in.Instance, in.options()...)
		if err != nil {
			return // the library's FuzzNew checks the rejections
		}
		spec := fuzzSimplePod(p)
		if err := p.Attach(&spec); err != nil {
			t.Fatalf("Attach to a simple pod: %v", err)
		}
		pod := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "fuzz", Namespace: e2e.ValidateNamespace},
			Spec:       spec,
		}
		if err := e2e.ValidatePod(pod); err != nil {
			t.Errorf("the API server would reject the pod:\n%v", err)
		}
		if err := e2e.CheckPodSpec(&spec); err != nil {
			t.Errorf("CheckPodSpec: %v", err)
		}
		checkKubeletExpansion(t, in, p, &spec)
	})
}

// checkKubeletExpansion: the kubelet rewrites "$(NAME)" in a container's
// command, arguments and environment values when NAME is one of the
// container's variables (its own, or one of the Service links the kubelet
// adds, so any name can be defined), and "$$" into "$" always. What reaches
// the proxy and the applications must be what the options said, and no
// reference may be left for a variable to fill in, whatever the pod defines.
func checkKubeletExpansion(t *testing.T, in fuzzNewInput, p *cloudsqlproxy.Proxy, spec *corev1.PodSpec) {
	t.Helper()
	const marker = "\x00EXPANDED"
	expand := func(where, s string) string {
		got := expansion.Expand(s, func(name string) string { return marker + "(" + name + ")" })
		if strings.Contains(got, marker) {
			t.Errorf("%s %q holds a variable reference the kubelet fills in: it reaches the container as %q", where, s, got)
		}
		return got
	}
	expandAll := func(where string, ss []string) []string {
		var out []string
		for _, s := range ss {
			out = append(out, expand(where, s))
		}
		return out
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			if c.Lifecycle != nil && c.Lifecycle.PostStart != nil && c.Lifecycle.PostStart.Exec != nil {
				expandAll(c.Name+" postStart command", c.Lifecycle.PostStart.Exec.Command)
			}
			for _, e := range c.Env {
				got := expand(c.Name+" env "+e.Name, e.Value)
				if in.has(fzAppEnv) && in.has(fzSocket) && e.Name == in.EnvSocket && c.Name != p.Name() {
					name, _, _ := strings.Cut(in.EnvInstance, "?")
					if want := in.SocketDir + "/" + name; got != want {
						t.Errorf("container %q gets %s=%q, want the socket path %q", c.Name, e.Name, got, want)
					}
				}
			}
		}
	}

	c := p.Container()
	args := expandAll("proxy argument", c.Args)
	if len(c.Command) > 6 {
		args = expandAll("proxy command", c.Command)[6:]
	}
	for _, f := range []struct {
		bit         int
		flag, value string
	}{
		{fzSocket, "unix-socket", in.SocketDir},
		{fzTelemetry, "telemetry-project", in.TelProject},
		{fzTelemetry, "telemetry-prefix", in.TelPrefix},
		{fzEndpoint, "sqladmin-api-endpoint", in.Endpoint},
		{fzUniverse, "universe-domain", in.Universe},
		{fzQuota, "quota-project", in.Quota},
		{fzPrometheus, "prometheus-namespace", in.PromNamespace},
		{fzImpersonate, "impersonate-service-account", in.Impersonate},
	} {
		if !in.has(f.bit) || f.value == "" {
			continue
		}
		if want := "--" + f.flag + "=" + f.value; !slices.Contains(args, want) {
			t.Errorf("the proxy receives %q, which lacks the configured %q", args, want)
		}
	}
	if in.has(fzSocket) {
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || m.MountPath == in.SocketDir // mountPath is not expanded
		}
		if !mounted {
			t.Errorf("the proxy does not mount a volume at its socket directory %q", in.SocketDir)
		}
	}
}

// readCorpusFile reads a file of go test's corpus format ("go test fuzz v1"
// and one Go conversion expression per value).
func readCorpusFile(path string) ([]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 0 || lines[0] != "go test fuzz v1" {
		return nil, fmt.Errorf("%s: not a corpus file", path)
	}
	var vals []any
	for i, line := range lines[1:] {
		v, err := corpusValue(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+2, err)
		}
		vals = append(vals, v)
	}
	return vals, nil
}

func corpusValue(line string) (any, error) {
	expr, err := parser.ParseExpr(line)
	if err != nil {
		return nil, err
	}
	call, ok := expr.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return nil, fmt.Errorf("not a conversion: %s", line)
	}
	typ, ok := call.Fun.(*ast.Ident)
	if !ok {
		return nil, fmt.Errorf("unsupported type in %s", line)
	}
	arg, neg := call.Args[0], false
	if u, ok := arg.(*ast.UnaryExpr); ok && u.Op == token.SUB {
		arg, neg = u.X, true
	}
	lit, ok := arg.(*ast.BasicLit)
	if !ok {
		return nil, fmt.Errorf("not a literal: %s", line)
	}
	if typ.Name == "string" {
		return strconv.Unquote(lit.Value)
	}
	var digits string
	switch lit.Kind {
	case token.INT:
		digits = lit.Value
	case token.CHAR:
		r, _, _, err := strconv.UnquoteChar(lit.Value[1:len(lit.Value)-1], '\'')
		if err != nil {
			return nil, err
		}
		digits = strconv.Itoa(int(r))
	default:
		return nil, fmt.Errorf("not a number: %s", line)
	}
	if neg {
		digits = "-" + digits
	}
	switch typ.Name {
	case "int", "int32", "rune", "int64":
		bits := map[string]int{"int": 64, "int32": 32, "rune": 32, "int64": 64}[typ.Name]
		n, err := strconv.ParseInt(digits, 0, bits)
		if err != nil {
			return nil, err
		}
		return map[string]any{"int": int(n), "int32": int32(n), "rune": int32(n), "int64": n}[typ.Name], nil
	case "uint64", "uint8", "byte":
		bits := map[string]int{"uint64": 64, "uint8": 8, "byte": 8}[typ.Name]
		n, err := strconv.ParseUint(digits, 0, bits)
		if err != nil {
			return nil, err
		}
		return map[string]any{"uint64": n, "uint8": uint8(n), "byte": uint8(n)}[typ.Name], nil
	}
	return nil, fmt.Errorf("unsupported type %s", typ.Name)
}

// TestFuzzMappingMatchesRoot keeps the block below identical to the one in
// the library's fuzz_test.go, so that both targets read the same corpus
// files as the same options.
func TestFuzzMappingMatchesRoot(t *testing.T) {
	root, err := mappingBlock(filepath.Join("..", "fuzz_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	mine, err := mappingBlock("fuzz_new_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if root != mine {
		t.Error("the fuzz options mapping differs from ../fuzz_test.go's: copy the block between the BEGIN and END lines")
	}
}

func mappingBlock(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := string(b)
	// At the start of a line, so that the constants here do not match.
	const begin, end = "\n// BEGIN fuzz options mapping.", "\n// END fuzz options mapping."
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("%s: no mapping block", path)
	}
	return s[i:j], nil
}

// BEGIN fuzz options mapping. e2e/fuzz_new_test.go holds a byte-for-byte
// copy of this block (its TestFuzzMappingMatchesRoot checks that), so that
// the apiserver-validation fuzz target there reads the seeds under
// testdata/fuzz/FuzzNew the same way.

// fuzzNewInput is one input of FuzzNew, in the order of the fuzz
// arguments: Set says which options are given (bit fz* set), the other
// fields are their values.
type fuzzNewInput struct {
	Set                                      uint64
	Instance, Instance2                      string
	Port, HealthPort, AdminPort              int32
	Name, Image, Version, PullPolicy         string
	Address, SocketDir, Secret, SecretKey    string
	Impersonate, PromNamespace               string
	TelProject, TelPrefix                    string
	TelSampleRate                            int
	Endpoint, Universe, Quota                string
	EnvInstance, EnvHost, EnvPort, EnvSocket string
	CPURequest, MemoryLimit                  string
	MaxConns                                 uint64
	MinSigterm, MaxSigterm, JobTimeout       int64
	Probe                                    int32
}

const (
	fzPort = iota
	fzInstance2
	fzHealthPort
	fzAdminPort
	fzName
	fzImage
	fzVersion
	fzPullPolicy
	fzResources
	fzAddress
	fzPrivateIP
	fzPSC
	fzAutoIAM
	fzSocket
	fzSecret
	fzSecretKey
	fzImpersonate
	fzLazyRefresh
	fzMaxConns
	fzMinSigterm
	fzMaxSigterm
	fzQuiet
	fzDebugLogs
	fzPrometheus
	fzTelemetry
	fzTelDisableMetrics
	fzTelDisableTraces
	fzQuitQuitQuit
	fzDebugServer
	fzEndpoint
	fzUniverse
	fzQuota
	fzStartupProbe
	fzLivenessProbe
	fzReadinessProbe
	fzAppEnv
	fzLegacy
	fzJob
	fzNilOption
)

func fzBits(bits ...int) uint64 {
	var set uint64
	for _, b := range bits {
		set |= 1 << b
	}
	return set
}

// fuzzNewTarget runs check on every input; both FuzzNew targets share it so
// that they read the same corpus files.
func fuzzNewTarget(f *testing.F, check func(*testing.T, fuzzNewInput)) {
	f.Fuzz(func(t *testing.T, set uint64, instance, instance2 string, port, healthPort, adminPort int32,
		name, image, version, pullPolicy, address, socketDir, secret, secretKey, impersonate, promNamespace,
		telProject, telPrefix string, telSampleRate int, endpoint, universe, quota,
		envInstance, envHost, envPort, envSocket, cpuRequest, memoryLimit string,
		maxConns uint64, minSigterm, maxSigterm, jobTimeout int64, probe int32) {
		check(t, fuzzNewInput{
			set, instance, instance2, port, healthPort, adminPort,
			name, image, version, pullPolicy, address, socketDir, secret, secretKey, impersonate, promNamespace,
			telProject, telPrefix, telSampleRate, endpoint, universe, quota,
			envInstance, envHost, envPort, envSocket, cpuRequest, memoryLimit,
			maxConns, minSigterm, maxSigterm, jobTimeout, probe,
		})
	})
}

// fuzzNewArgs lists in's fields in the order of the fuzz arguments.
func fuzzNewArgs(in fuzzNewInput) []any {
	v := reflect.ValueOf(in)
	args := make([]any, v.NumField())
	for i := range args {
		args[i] = v.Field(i).Interface()
	}
	return args
}

func (in fuzzNewInput) has(bit int) bool { return in.Set&(1<<bit) != 0 }

// options turns the input into New's options, in a fixed order.
func (in fuzzNewInput) options() []cloudsqlproxy.Option {
	var opts []cloudsqlproxy.Option
	add := func(bit int, o func() cloudsqlproxy.Option) {
		if in.has(bit) {
			opts = append(opts, o())
		}
	}
	probe := cloudsqlproxy.ProbeTiming{InitialDelaySeconds: in.Probe, PeriodSeconds: in.Probe, TimeoutSeconds: in.Probe, FailureThreshold: in.Probe}
	add(fzPort, func() cloudsqlproxy.Option { return cloudsqlproxy.WithPort(in.Port) })
	add(fzInstance2, func() cloudsqlproxy.Option { return cloudsqlproxy.WithInstance(in.Instance2) })
	add(fzHealthPort, func() cloudsqlproxy.Option { return cloudsqlproxy.WithHealthPort(in.HealthPort) })
	add(fzAdminPort, func() cloudsqlproxy.Option { return cloudsqlproxy.WithAdminPort(in.AdminPort) })
	add(fzName, func() cloudsqlproxy.Option { return cloudsqlproxy.WithName(in.Name) })
	add(fzImage, func() cloudsqlproxy.Option { return cloudsqlproxy.WithImage(in.Image) })
	add(fzVersion, func() cloudsqlproxy.Option { return cloudsqlproxy.WithProxyVersion(in.Version) })
	add(fzPullPolicy, func() cloudsqlproxy.Option {
		return cloudsqlproxy.WithImagePullPolicy(corev1.PullPolicy(in.PullPolicy))
	})
	if in.has(fzResources) {
		// Quantities that do not parse cannot be built: those values only
		// exercise the parser, which is not the library's.
		var r corev1.ResourceRequirements
		if q, err := resource.ParseQuantity(in.CPURequest); err == nil {
			r.Requests = corev1.ResourceList{corev1.ResourceCPU: q}
		}
		if q, err := resource.ParseQuantity(in.MemoryLimit); err == nil {
			r.Limits = corev1.ResourceList{corev1.ResourceMemory: q}
		}
		opts = append(opts, cloudsqlproxy.WithResources(r))
	}
	add(fzAddress, func() cloudsqlproxy.Option { return cloudsqlproxy.WithListenAddress(in.Address) })
	add(fzPrivateIP, cloudsqlproxy.WithPrivateIP)
	add(fzPSC, cloudsqlproxy.WithPSC)
	add(fzAutoIAM, cloudsqlproxy.WithAutoIAMAuthn)
	add(fzSocket, func() cloudsqlproxy.Option { return cloudsqlproxy.WithUnixSocket(in.SocketDir) })
	add(fzSecret, func() cloudsqlproxy.Option { return cloudsqlproxy.WithCredentialsSecret(in.Secret) })
	add(fzSecretKey, func() cloudsqlproxy.Option { return cloudsqlproxy.WithCredentialsSecretKey(in.SecretKey) })
	add(fzImpersonate, func() cloudsqlproxy.Option {
		if in.Impersonate == "" {
			return cloudsqlproxy.WithImpersonation()
		}
		return cloudsqlproxy.WithImpersonation(strings.Split(in.Impersonate, ",")...)
	})
	add(fzLazyRefresh, cloudsqlproxy.WithLazyRefresh)
	add(fzMaxConns, func() cloudsqlproxy.Option { return cloudsqlproxy.WithMaxConnections(in.MaxConns) })
	add(fzMinSigterm, func() cloudsqlproxy.Option { return cloudsqlproxy.WithMinSigtermDelay(time.Duration(in.MinSigterm)) })
	add(fzMaxSigterm, func() cloudsqlproxy.Option { return cloudsqlproxy.WithMaxSigtermDelay(time.Duration(in.MaxSigterm)) })
	add(fzQuiet, cloudsqlproxy.WithQuiet)
	add(fzDebugLogs, cloudsqlproxy.WithDebugLogs)
	add(fzPrometheus, func() cloudsqlproxy.Option { return cloudsqlproxy.WithPrometheus(in.PromNamespace) })
	add(fzTelemetry, func() cloudsqlproxy.Option {
		return cloudsqlproxy.WithTelemetry(cloudsqlproxy.Telemetry{
			Project: in.TelProject, Prefix: in.TelPrefix, SampleRate: in.TelSampleRate,
			DisableMetrics: in.has(fzTelDisableMetrics), DisableTraces: in.has(fzTelDisableTraces),
		})
	})
	add(fzQuitQuitQuit, cloudsqlproxy.WithQuitQuitQuit)
	add(fzDebugServer, cloudsqlproxy.WithDebugServer)
	add(fzEndpoint, func() cloudsqlproxy.Option { return cloudsqlproxy.WithSQLAdminAPIEndpoint(in.Endpoint) })
	add(fzUniverse, func() cloudsqlproxy.Option { return cloudsqlproxy.WithUniverseDomain(in.Universe) })
	add(fzQuota, func() cloudsqlproxy.Option { return cloudsqlproxy.WithQuotaProject(in.Quota) })
	add(fzStartupProbe, func() cloudsqlproxy.Option { return cloudsqlproxy.WithStartupProbe(probe) })
	add(fzLivenessProbe, func() cloudsqlproxy.Option { return cloudsqlproxy.WithLivenessProbe(probe) })
	add(fzReadinessProbe, func() cloudsqlproxy.Option { return cloudsqlproxy.WithReadinessProbe(probe) })
	add(fzAppEnv, func() cloudsqlproxy.Option {
		return cloudsqlproxy.WithAppEnv(in.EnvInstance, cloudsqlproxy.AppEnv{Host: in.EnvHost, Port: in.EnvPort, Socket: in.EnvSocket})
	})
	add(fzLegacy, cloudsqlproxy.WithLegacySidecar)
	add(fzJob, func() cloudsqlproxy.Option { return cloudsqlproxy.ForJob(time.Duration(in.JobTimeout)) })
	add(fzNilOption, func() cloudsqlproxy.Option { return nil })
	return opts
}

// fuzzSimplePod is the pod every accepted configuration must attach to: one
// application container whose name differs from the proxy's, meeting Pod
// Security "restricted" on its own, and a restart policy that every mode
// accepts.
func fuzzSimplePod(p *cloudsqlproxy.Proxy) corev1.PodSpec {
	app := "app"
	if p.Name() == app {
		app = "application"
	}
	yes, no := true, false
	return corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   &yes,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:  app,
			Image: "registry.example/app:1.0",
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: &no,
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}

// END fuzz options mapping.
