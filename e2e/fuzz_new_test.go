package e2e_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/e2e"
	"github.com/podspec/cloudsqlproxy/internal/fuzzcfg"
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
	fuzzcfg.Target(f, func(t *testing.T, in fuzzcfg.Input) {
		p, err := cloudsqlproxy.New(in.Instance, in.Options()...)
		if err != nil {
			return // the library's FuzzNew checks the rejections
		}
		spec := fuzzcfg.SimplePod(p)
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
func checkKubeletExpansion(t *testing.T, in fuzzcfg.Input, p *cloudsqlproxy.Proxy, spec *corev1.PodSpec) {
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
				if in.Has(fuzzcfg.BitAppEnv) && in.Has(fuzzcfg.BitSocket) && e.Name == in.EnvSocket && c.Name != p.Name() {
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
		{fuzzcfg.BitSocket, "unix-socket", in.SocketDir},
		{fuzzcfg.BitTelemetry, "telemetry-project", in.TelProject},
		{fuzzcfg.BitTelemetry, "telemetry-prefix", in.TelPrefix},
		{fuzzcfg.BitEndpoint, "sqladmin-api-endpoint", in.Endpoint},
		{fuzzcfg.BitUniverse, "universe-domain", in.Universe},
		{fuzzcfg.BitQuota, "quota-project", in.Quota},
		{fuzzcfg.BitPrometheus, "prometheus-namespace", in.PromNamespace},
		{fuzzcfg.BitImpersonate, "impersonate-service-account", in.Impersonate},
	} {
		if !in.Has(f.bit) || f.value == "" {
			continue
		}
		if want := "--" + f.flag + "=" + f.value; !slices.Contains(args, want) {
			t.Errorf("the proxy receives %q, which lacks the configured %q", args, want)
		}
	}
	if in.Has(fuzzcfg.BitSocket) {
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
