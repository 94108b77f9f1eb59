package cloudsqlproxy_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/internal/fuzzcfg"
	"github.com/podspec/cloudsqlproxy/internal/proxysrc"
)

// Fuzzing. Run a target with
//
//	go test -run '^$' -fuzz '^FuzzNew$' -fuzztime 60s .
//
// Plain `go test` runs the seed corpora under testdata/fuzz. A failing
// input the fuzzer finds is written there too: keep it as a regression
// seed once the bug is fixed. The seeds of FuzzNew are generated from
// fuzzNewSeeds and fuzzAttachSeeds; after changing those tables run
//
//	go test -run TestFuzzSeedCorpora -update-fuzz-seeds .

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzNew from fuzzNewSeeds")

// fuzzOptionNames are the roots a field error of New may name: New's own
// argument and every exported option constructor, read from options.go so
// that a new option cannot be forgotten here.
func fuzzOptionNames(tb testing.TB, optionsGo string) map[string]bool {
	tb.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), optionsGo, nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	names := map[string]bool{"instance": true}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
			continue
		}
		if id, ok := fn.Type.Results.List[0].Type.(*ast.Ident); ok && id.Name == "Option" {
			names[fn.Name.Name] = true
		}
	}
	if len(names) < 30 {
		tb.Fatalf("found only %d option constructors in %s", len(names), optionsGo)
	}
	return names
}

// proxyFlags are the flags of the Cloud SQL Auth Proxy's root command in
// every release up to DefaultVersion (internal/proxysrc/releases.txt, read
// from the proxy's source): an argument the library emits must be one of
// them.
var proxyFlags = map[string]bool{}

func init() {
	rel, err := proxysrc.Releases()
	if err != nil {
		panic(err)
	}
	for _, r := range rel {
		if r.Kind == proxysrc.KindFlag {
			proxyFlags[r.Name] = true
		}
	}
}

func FuzzNew(f *testing.F) {
	names := fuzzOptionNames(f, "options.go")
	fuzzcfg.Target(f, func(t *testing.T, in fuzzcfg.Input) {
		p, err := cloudsqlproxy.New(in.Instance, in.Options()...)
		checkConnNameVerdict(t, in.Instance, err)
		if err != nil {
			if p != nil {
				t.Errorf("New returned a Proxy with the error %v", err)
			}
			checkNewError(t, names, err)
			return
		}
		checkAccepted(t, in, p)
	})
}

// connNameGrammar is the grammar of a Cloud SQL connection name, which New
// checks with code written out for speed: New must reject exactly the names
// this does not match.
var connNameGrammar = regexp.MustCompile(`^(?:[a-z0-9][a-z0-9.-]*\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]:[a-z]+(?:-[a-z]+)*[0-9]+:[a-z](?:[a-z0-9-]{0,96}[a-z0-9])?$`)

// dnsNameGrammar is the grammar of the DNS names the proxy's connector
// takes as instance names (cloudsqlconn's instance.IsValidDomain); its
// resolver also needs isResolvable.
var dnsNameGrammar = regexp.MustCompile(`^(?:[_a-z0-9](?:[_a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?)?$`)

// isResolvable: Go's resolver looks up no name longer than 253 characters
// (254 with a trailing dot) and none that is all digits and dots (an IPv4
// address among them).
func isResolvable(name string) bool {
	return len(strings.TrimSuffix(name, ".")) <= 253 && strings.Trim(name, "0123456789.") != ""
}

// checkConnNameVerdict: New's error calls instance (New's first argument)
// neither a connection name nor a DNS name exactly when neither
// connNameGrammar nor dnsNameGrammar (with isResolvable) matches it.
func checkConnNameVerdict(t *testing.T, instance string, err error) {
	t.Helper()
	name, _, _ := strings.Cut(instance, "?")
	if name == "" {
		return // reported as missing instead
	}
	rejected := false
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		for _, e := range agg.Errors() {
			var fe *field.Error
			if errors.As(e, &fe) && fe.Field == "instance" && fe.Type == field.ErrorTypeInvalid && strings.Contains(fe.Detail, "connection name") {
				rejected = true
			}
		}
	}
	dns := dnsNameGrammar.MatchString(name) && isResolvable(name)
	if want := !connNameGrammar.MatchString(name) && !dns; rejected != want {
		t.Errorf("New(%q): rejected as an instance name %v, the grammars say %v (err: %v)", instance, rejected, want, err)
	}
}

func TestConnectionNameGrammar(t *testing.T) {
	project30, project31 := "a"+strings.Repeat("b", 28)+"c", "a"+strings.Repeat("b", 29)+"c"
	inst98, inst99 := "a"+strings.Repeat("b", 97), "a"+strings.Repeat("b", 98)
	for _, name := range []string{
		"my-project:us-central1:db", "example.com:my-project:us-central1:db", "a.co:abcdef:a1:b",
		"abcdef:a1:b", "abcde:a1:b", project30 + ":a1:b", project31 + ":a1:b",
		"abcdef:a1:" + inst98, "abcdef:a1:" + inst99, "abcdef:a1:b-", "abcdef:a1:b-1", "abcdef:a1:1b",
		"abcdef-:a1:b", "1bcdef:a1:b", "abcdef:us-central:b", "abcdef:us--central1:b", "abcdef:us-1:b",
		"abcdef:-us1:b", "abcdef:us-central-1:b", "abcdef:europe-west12:b", "abcdef:a1", "abcdef:a1:b:c:d",
		".com:abcdef:a1:b", "a.c:abcdef:a1:b", "a.c0:abcdef:a1:b", "-a.com:abcdef:a1:b", "a-.com:abcdef:a1:b",
		"a..com:abcdef:a1:b", "a.b.com:abcdef:a1:b", "A.com:abcdef:a1:b", "abcdef:a1:b\n", "abcdef:a1:b ",
		"ABCDEF:a1:b", "abcdef:A1:b", "abcdef:a1:B", "abcdef:a1:b\x00", "abcdef:a1:b\xff", "abcdéf:a1:b", "",
	} {
		p, err := cloudsqlproxy.New(name)
		if (err == nil) != (p != nil) {
			t.Errorf("New(%q) = %v, %v", name, p, err)
		}
		checkConnNameVerdict(t, name, err)
	}
}

// TestDNSNameGrammar holds New to dnsNameGrammar on the edges of DNS names
// (dnsname_test.go has the reasons; e2e what the proxy does with them).
func TestDNSNameGrammar(t *testing.T) {
	l63, l64 := strings.Repeat("a", 63), strings.Repeat("a", 64)
	n253 := strings.Repeat(l63+".", 4)[:253]
	for _, name := range []string{
		"a.b", "a.b.", "a.", "a", ".", "..", "a..b", ".a.b", "_.a", "a._", "_a.b", "a_.b", "a_b.c", "a.b_c", "a.b_c.",
		"-a.b", "a-.b", "a.-b", "a.b-", "a.1", "a.1.", "1.a", "1.1", "1.1.", "1.1.1.1", "1.1.1.1.", "1-1.1.", "a.b.c.d.e",
		l63 + ".b", l64 + ".b", "a." + l63, "a." + l64, n253, n253 + ".", n253 + "a", n253 + "a.",
		"A.b", "a.B", "a b.c", "a.b ", "a\n.b", "a.b\x00", "a.b\xff", "ä.b", "a/b.c", "a.b:c", "[::1]", "::1",
		"x.y.us-central1.sql.goog", "x.y.global.sql.goog",
	} {
		p, err := cloudsqlproxy.New(name)
		if (err == nil) != (p != nil) {
			t.Errorf("New(%q) = %v, %v", name, p, err)
		}
		checkConnNameVerdict(t, name, err)
	}
}

// checkNewError: a rejection wraps ErrInvalidConfig and consists of field
// errors, each naming the option (or New's instance argument) at fault.
func checkNewError(t *testing.T, names map[string]bool, err error) {
	t.Helper()
	eachFieldError(t, err, cloudsqlproxy.ErrInvalidConfig, func(e error, fe *field.Error) {
		root := fe.Field
		if i := strings.IndexAny(root, ".["); i >= 0 {
			root = root[:i]
		}
		if !names[root] {
			t.Errorf("field error names %q, which is no option: %v", fe.Field, fe)
		}
		if fe.Type == "" || !strings.Contains(e.Error(), fe.Field) {
			t.Errorf("field error without a type or whose message does not name its field: %q", e.Error())
		}
	})
}

// eachFieldError checks that err wraps sentinel and is a non-empty
// aggregate of *field.Error, and calls check with each (as aggregated, and
// as the field error).
func eachFieldError(t *testing.T, err, sentinel error, check func(error, *field.Error)) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("error does not wrap %q: %v", sentinel, err)
	}
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) || len(agg.Errors()) == 0 {
		t.Fatalf("error holds no Aggregate of field errors: %v", err)
	}
	for _, e := range agg.Errors() {
		var fe *field.Error
		if !errors.As(e, &fe) {
			t.Errorf("not a *field.Error: %T %v", e, e)
			continue
		}
		check(e, fe)
	}
}

// checkAccepted holds for every configuration New accepts: the container is
// well formed by our own checks and attaches to a simple pod, and Detach
// gives that pod back. (e2e/fuzz_new_test.go adds the API server's
// validation, which the library's module cannot depend on.)
func checkAccepted(t *testing.T, in fuzzcfg.Input, p *cloudsqlproxy.Proxy) {
	t.Helper()
	c := p.Container()
	if diff := cmp.Diff(c, p.Container()); diff != "" {
		t.Fatalf("two calls of Container differ (-first +second):\n%s", diff)
	}
	if c.Name != p.Name() {
		t.Errorf("Container().Name %q, Name() %q", c.Name, p.Name())
	}
	for _, msg := range validation.IsDNS1123Label(c.Name) {
		t.Errorf("container name %q: %s", c.Name, msg)
	}
	if c.Image == "" || strings.TrimSpace(c.Image) != c.Image {
		t.Errorf("image %q", c.Image)
	}

	args := c.Args
	switch {
	case in.Has(fuzzcfg.BitJob) && in.JobTimeout > 0:
		// The Job wrapper: the script and its positional parameters.
		if len(c.Command) < 6 || c.Command[0] != "/bin/sh" || c.Command[1] != "-c" || c.Command[3] != "cloudsql-proxy" || c.Command[5] != "/cloud-sql-proxy" || len(c.Args) != 0 {
			t.Fatalf("Job wrapper command %q args %q", c.Command, c.Args)
		}
		if secs, err := strconv.ParseInt(c.Command[4], 10, 64); err != nil || secs*int64(time.Second) != in.JobTimeout {
			t.Errorf("timeout parameter %q for ForJob(%v)", c.Command[4], time.Duration(in.JobTimeout))
		}
		args = c.Command[6:]
	default:
		if diff := cmp.Diff([]string{"/cloud-sql-proxy"}, c.Command); diff != "" {
			t.Errorf("command (-want +got):\n%s", diff)
		}
	}
	instances := 1
	if in.Has(fuzzcfg.BitInstance2) {
		instances = 2
	}
	if len(args) < instances {
		t.Fatalf("args %q: fewer than %d instances", args, instances)
	}
	for i, a := range args {
		// Everything the library passes is printable ASCII without blanks:
		// the kubelet, the shell wrapper and the proxy's flag parser all
		// see exactly one argument.
		for j := 0; j < len(a); j++ {
			if a[j] <= ' ' || a[j] > '~' {
				t.Errorf("argument %q has byte %#x at %d", a, a[j], j)
				break
			}
		}
		if i >= len(args)-instances {
			if strings.HasPrefix(a, "-") {
				t.Errorf("instance argument %q looks like a flag", a)
			}
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !proxyFlags[name] {
			t.Errorf("argument %q is not a flag of the proxy", a)
		}
	}
	wantInstances := []string{in.Instance}
	if in.Has(fuzzcfg.BitInstance2) {
		wantInstances = append(wantInstances, in.Instance2)
	}
	for i, raw := range wantInstances {
		name, _, _ := strings.Cut(raw, "?")
		if got, _, _ := strings.Cut(args[len(args)-instances+i], "?"); got != name {
			t.Errorf("instance argument %d is %q, want the connection name %q", i, got, name)
		}
	}

	checkProbePorts(t, &c)
	native := !in.Has(fuzzcfg.BitLegacy) && !in.Has(fuzzcfg.BitJob)
	if isAlways := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways; native != isAlways {
		t.Errorf("native sidecar %v, container restartPolicy %v", native, c.RestartPolicy)
	}
	if !native && (c.Lifecycle == nil || c.Lifecycle.PostStart == nil || c.Lifecycle.PostStart.Exec == nil) {
		t.Errorf("a regular proxy container without the postStart hook that holds the application back")
	}

	spec := fuzzcfg.SimplePod(p)
	orig := *spec.DeepCopy()
	if err := p.Attach(&spec); err != nil {
		t.Fatalf("Attach to %+v: %v", orig, err)
	}
	checkAttached(t, p, &orig, &spec)
	if err := p.Detach(&spec); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if diff := cmp.Diff(orig, spec, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Detach after Attach (-original +detached):\n%s", diff)
	}
}

// checkProbePorts: every probe and hook of c that talks to a port names one
// that c declares, by a valid name, and the declared ports are valid.
func checkProbePorts(t *testing.T, c *corev1.Container) {
	t.Helper()
	for _, port := range c.Ports {
		if port.ContainerPort < 1 || port.ContainerPort > 65535 {
			t.Errorf("container %q declares port %d", c.Name, port.ContainerPort)
		}
		for _, msg := range validation.IsValidPortName(port.Name) {
			t.Errorf("container %q port name %q: %s", c.Name, port.Name, msg)
		}
	}
	for _, pr := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			continue
		}
		if !fuzzDeclares(c, pr.HTTPGet.Port) {
			t.Errorf("container %q probes %s on undeclared port %s", c.Name, pr.HTTPGet.Path, pr.HTTPGet.Port.String())
		}
		if pr.PeriodSeconds < 1 || pr.TimeoutSeconds < 1 || pr.FailureThreshold < 1 || pr.SuccessThreshold != 1 || pr.InitialDelaySeconds < 0 {
			t.Errorf("container %q probe %s timing %+v", c.Name, pr.HTTPGet.Path, *pr)
		}
	}
}

func fuzzDeclares(c *corev1.Container, ref intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if ref.Type == intstr.String && p.Name == ref.StrVal || ref.Type == intstr.Int && p.ContainerPort == ref.IntVal {
			return true
		}
	}
	return false
}

// checkAttached checks a spec after a successful Attach the way the API
// server's validation would, for the parts the library writes: unique
// container, port and volume names, valid names, mounts of existing
// volumes, and the proxy container itself in place. A problem the input
// already had is not the library's.
func checkAttached(t *testing.T, p *cloudsqlproxy.Proxy, before, after *corev1.PodSpec) {
	t.Helper()
	had := podProblems(before)
	for problem := range podProblems(after) {
		if !had[problem] {
			t.Errorf("after Attach: %s", problem)
		}
	}
	// The first container of the proxy's name is the proxy; an input that
	// already held several (which the API server rejects) keeps the rest.
	want, found, first := 1, 0, true
	if n := countNamed(before, p.Name()); n > want {
		want = n
	}
	for _, cs := range [][]corev1.Container{after.InitContainers, after.Containers} {
		for i := range cs {
			if cs[i].Name != p.Name() {
				continue
			}
			found++
			if first {
				first = false
				if diff := cmp.Diff(p.Container(), cs[i]); diff != "" {
					t.Errorf("attached proxy container differs from Container() (-want +got):\n%s", diff)
				}
			}
		}
	}
	if found != want {
		t.Errorf("%d containers named %q after Attach, want %d", found, p.Name(), want)
	}
	for _, v := range p.Volumes() {
		if i := fuzzVolumeIndex(after.Volumes, v.Name); i < 0 || !equality.Semantic.DeepEqual(v, after.Volumes[i]) {
			t.Errorf("volume %q of the proxy is missing after Attach", v.Name)
		}
	}
}

func countNamed(spec *corev1.PodSpec, name string) int {
	n := 0
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				n++
			}
		}
	}
	return n
}

// podProblems lists what the API server would reject in the parts of a
// spec that Attach writes, without positions, which Attach shifts.
func podProblems(spec *corev1.PodSpec) map[string]bool {
	problems := map[string]bool{}
	add := func(format string, args ...any) { problems[fmt.Sprintf(format, args...)] = true }
	containerNames, portNames := map[string]bool{}, map[string]bool{}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			c := &cs[i]
			if containerNames[c.Name] {
				add("container name %q twice", c.Name)
			}
			containerNames[c.Name] = true
			for _, port := range c.Ports {
				if port.Name != "" && portNames[port.Name] {
					add("port name %q twice", port.Name)
				}
				portNames[port.Name] = true
			}
			for _, e := range c.Env {
				for _, msg := range validation.IsEnvVarName(e.Name) {
					add("container %q env %q: %s", c.Name, e.Name, msg)
				}
			}
			for _, m := range c.VolumeMounts {
				if fuzzVolumeIndex(spec.Volumes, m.Name) < 0 {
					add("container %q mounts volume %q, which the pod does not have", c.Name, m.Name)
				}
			}
		}
	}
	volNames := map[string]bool{}
	for _, v := range spec.Volumes {
		if volNames[v.Name] {
			add("volume name %q twice", v.Name)
		}
		volNames[v.Name] = true
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			add("volume name %q: %s", v.Name, msg)
		}
	}
	return problems
}

func fuzzVolumeIndex(vs []corev1.Volume, name string) int {
	for i := range vs {
		if vs[i].Name == name {
			return i
		}
	}
	return -1
}

// FuzzAttachDetach attaches each proxy of propProxies to pod specs decoded
// from the fuzzer's bytes.
func FuzzAttachDetach(f *testing.F) {
	proxies := propProxies(f)
	f.Fuzz(func(t *testing.T, which uint8, podJSON []byte) {
		var spec corev1.PodSpec
		if err := json.Unmarshal(podJSON, &spec); err != nil {
			return
		}
		i := int(which) % len(proxies)
		checkAttachDetach(t, proxies[i].p, spec)
	})
}

// hasProxy reports whether spec already has a container of the proxy's name,
// which Attach replaces (or moves) and Detach removes: for such a spec
// Attach-then-Detach equals Detach, not the identity. For any other spec
// Attach refuses everything Detach would remove but Attach did not add, so
// there it must be the identity.
func hasProxy(p *cloudsqlproxy.Proxy, spec *corev1.PodSpec) bool {
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			if cs[i].Name == p.Name() {
				return true
			}
		}
	}
	return false
}

// attachPathRoots are the fields of a PodSpec that Attach may complain
// about.
var attachPathRoots = []string{"hostNetwork", "restartPolicy", "initContainers[", "containers[", "ephemeralContainers[", "volumes["}

func checkAttachDetach(t *testing.T, p *cloudsqlproxy.Proxy, input corev1.PodSpec) {
	t.Helper()
	orig := *input.DeepCopy()
	spec := input // shares its arrays with input, which Attach must not write
	err := p.Attach(&spec)
	if !reflect.DeepEqual(orig, input) {
		t.Fatalf("Attach wrote into the arrays of the spec it was given (-before +after):\n%s", cmp.Diff(orig, input))
	}
	if err != nil {
		eachFieldError(t, err, cloudsqlproxy.ErrConflict, func(_ error, fe *field.Error) {
			known := false
			for _, r := range attachPathRoots {
				known = known || strings.HasPrefix(fe.Field, r) || fe.Field == strings.TrimSuffix(r, "[")
			}
			if !known {
				t.Errorf("field error names %q, which is not a field Attach checks: %v", fe.Field, fe)
			}
		})
		if !reflect.DeepEqual(orig, spec) {
			t.Errorf("failed Attach changed the spec (-before +after):\n%s", cmp.Diff(orig, spec))
		}
		return
	}
	checkAttached(t, p, &orig, &spec)

	twice := *spec.DeepCopy()
	if err := p.Attach(&twice); err != nil {
		t.Fatalf("second Attach: %v", err)
	}
	if !reflect.DeepEqual(spec, twice) {
		t.Errorf("Attach is not idempotent (-once +twice):\n%s", cmp.Diff(spec, twice))
	}

	attached := *spec.DeepCopy()
	detached := spec
	if err := p.Detach(&detached); err != nil {
		t.Fatalf("Detach after Attach: %v", err)
	}
	if !reflect.DeepEqual(attached, spec) {
		t.Fatalf("Detach wrote into the arrays of the spec it was given (-before +after):\n%s", cmp.Diff(attached, spec))
	}
	if hasProxy(p, &orig) {
		want := *orig.DeepCopy()
		if err := p.Detach(&want); err != nil {
			t.Fatalf("Detach of the original: %v", err)
		}
		if !equality.Semantic.DeepEqual(want, detached) {
			t.Errorf("Detach(Attach(spec)) differs from Detach(spec) (-want +got):\n%s", cmp.Diff(want, detached, cmpopts.EquateEmpty()))
		}
		return
	}
	if !equality.Semantic.DeepEqual(orig, detached) {
		t.Errorf("Detach after Attach is not the original (-original +detached):\n%s", cmp.Diff(orig, detached, cmpopts.EquateEmpty()))
	}
}

// fuzzNewSeeds are FuzzNew's seed corpus, written to testdata/fuzz/FuzzNew
// by -update-fuzz-seeds. They cover every option with valid values, and
// every string option with shell metacharacters, Unicode, bytes that are not
// UTF-8, and huge values.
func fuzzNewSeeds() map[string]fuzzcfg.Input {
	const (
		inst  = "my-project:us-central1:db"
		inst2 = "my-project:europe-west1:replica"
	)
	valid := fuzzcfg.Input{
		Instance: inst, Instance2: inst2 + "?port=6000&auto-iam-authn=true",
		Port: 5433, HealthPort: 9802, AdminPort: 9092,
		Name: "db-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3-alpine", Version: "2.25.3",
		PullPolicy: "Always", Address: "127.0.0.2", SocketDir: "/cloudsql",
		Secret: "sql-credentials", SecretKey: "key.json",
		Impersonate:   "a@my-project.iam.gserviceaccount.com,b@my-project.iam.gserviceaccount.com",
		PromNamespace: "cloudsql", TelProject: "my-project", TelPrefix: "custom.googleapis.com/", TelSampleRate: 100,
		Endpoint: "https://sqladmin.googleapis.com", Universe: "googleapis.com", Quota: "billing-project",
		EnvInstance: inst, EnvHost: "DB_HOST", EnvPort: "DB_PORT", EnvSocket: "DB_SOCKET",
		CPURequest: "250m", MemoryLimit: "256Mi",
		MaxConns: 100, MinSigterm: int64(5 * time.Second), MaxSigterm: int64(30 * time.Second),
		JobTimeout: int64(10 * time.Minute), Probe: 7,
	}
	with := func(set uint64, f func(*fuzzcfg.Input)) fuzzcfg.Input {
		in := valid
		in.Set = set
		if f != nil {
			f(&in)
		}
		return in
	}
	// allStrings sets every string input to v.
	allStrings := func(v string) func(*fuzzcfg.Input) {
		return func(in *fuzzcfg.Input) {
			rv := reflect.ValueOf(in).Elem()
			for i := 0; i < rv.NumField(); i++ {
				if rv.Field(i).Kind() == reflect.String {
					rv.Field(i).SetString(v)
				}
			}
		}
	}
	allBits := ^uint64(0) &^ fuzzcfg.Bits(fuzzcfg.BitNilOption)
	tcp := fuzzcfg.Bits(fuzzcfg.BitPort, fuzzcfg.BitInstance2, fuzzcfg.BitHealthPort, fuzzcfg.BitAdminPort, fuzzcfg.BitName, fuzzcfg.BitImage, fuzzcfg.BitVersion, fuzzcfg.BitPullPolicy,
		fuzzcfg.BitResources, fuzzcfg.BitAddress, fuzzcfg.BitAutoIAM, fuzzcfg.BitSecret, fuzzcfg.BitSecretKey, fuzzcfg.BitImpersonate, fuzzcfg.BitLazyRefresh, fuzzcfg.BitMaxConns,
		fuzzcfg.BitMinSigterm, fuzzcfg.BitMaxSigterm, fuzzcfg.BitDebugLogs, fuzzcfg.BitPrometheus, fuzzcfg.BitTelemetry, fuzzcfg.BitTelDisableTraces, fuzzcfg.BitQuitQuitQuit,
		fuzzcfg.BitDebugServer, fuzzcfg.BitEndpoint, fuzzcfg.BitQuota, fuzzcfg.BitStartupProbe, fuzzcfg.BitLivenessProbe, fuzzcfg.BitReadinessProbe, fuzzcfg.BitAppEnv)
	hostile := "'\"`$(touch /tmp/cloudsqlproxy-fuzz-canary)`;|&<>\\\n*?~#!{}[]"
	// Accepted by New where a printable value is: the strings that reach
	// the proxy's arguments without validation of their alphabet.
	shellInArgs := func(in *fuzzcfg.Input) {
		in.SocketDir = "/a'b\"c`d`$(touch${IFS}/tmp/cloudsqlproxy-fuzz-canary);e|f&g"
		in.TelPrefix = "$(touch${IFS}/tmp/cloudsqlproxy-fuzz-canary)`id`;'\"\\"
		in.Endpoint = "https://example.com/$(id)`id`;x'y\"z"
	}
	huge := strings.Repeat("a", 1<<13) // far beyond every limit; larger inputs only slow the fuzzer
	return map[string]fuzzcfg.Input{
		"defaults":               with(0, nil),
		"nil-option":             with(fuzzcfg.Bits(fuzzcfg.BitNilOption), nil),
		"all-valid-tcp":          with(tcp, func(in *fuzzcfg.Input) { in.EnvSocket = "" }),
		"all-valid-socket":       with(fuzzcfg.Bits(fuzzcfg.BitInstance2, fuzzcfg.BitSocket, fuzzcfg.BitSecret, fuzzcfg.BitAppEnv, fuzzcfg.BitPrivateIP, fuzzcfg.BitQuiet), func(in *fuzzcfg.Input) { in.Instance2 = inst2; in.EnvHost, in.EnvPort = "", "" }),
		"legacy":                 with(fuzzcfg.Bits(fuzzcfg.BitLegacy, fuzzcfg.BitAppEnv), func(in *fuzzcfg.Input) { in.EnvSocket = "" }),
		"job":                    with(fuzzcfg.Bits(fuzzcfg.BitJob, fuzzcfg.BitAppEnv), func(in *fuzzcfg.Input) { in.JobTimeout = 0; in.EnvSocket = "" }),
		"job-timeout-socket":     with(fuzzcfg.Bits(fuzzcfg.BitJob, fuzzcfg.BitSocket, fuzzcfg.BitSecret, fuzzcfg.BitName), nil),
		"job-timeout-distroless": with(fuzzcfg.Bits(fuzzcfg.BitJob, fuzzcfg.BitImage), func(in *fuzzcfg.Input) { in.Image = cloudsqlproxy.DefaultImage }),
		"job-fractional-timeout": with(fuzzcfg.Bits(fuzzcfg.BitJob), func(in *fuzzcfg.Input) { in.JobTimeout = int64(1500 * time.Millisecond) }),
		"job-huge-timeout":       with(fuzzcfg.Bits(fuzzcfg.BitJob), func(in *fuzzcfg.Input) { in.JobTimeout = int64(1<<63-1) / int64(time.Second) * int64(time.Second) }),
		"every-option":           with(allBits, nil),
		"conflicts": with(fuzzcfg.Bits(fuzzcfg.BitPrivateIP, fuzzcfg.BitPSC, fuzzcfg.BitQuiet, fuzzcfg.BitDebugLogs, fuzzcfg.BitEndpoint, fuzzcfg.BitUniverse, fuzzcfg.BitSocket, fuzzcfg.BitPort, fuzzcfg.BitAddress), func(in *fuzzcfg.Input) {
			in.Instance = inst + "?private-ip=true&psc=true&port=1"
		}),
		"old-image": with(fuzzcfg.Bits(fuzzcfg.BitImage, fuzzcfg.BitPSC, fuzzcfg.BitLazyRefresh, fuzzcfg.BitDebugLogs, fuzzcfg.BitMinSigterm, fuzzcfg.BitUniverse, fuzzcfg.BitLegacy), func(in *fuzzcfg.Input) {
			in.Image = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.1.0"
		}),
		"query-params": with(fuzzcfg.Bits(fuzzcfg.BitInstance2), func(in *fuzzcfg.Input) {
			in.Instance = inst + "?port=5433&private-ip=t&auto-iam-authn=F&psc=&unknown=1&port=2"
			in.Instance2 = inst2 + "?port=abc&private-ip=maybe;x=%zz"
		}),
		"domain-scoped": with(fuzzcfg.Bits(fuzzcfg.BitInstance2), func(in *fuzzcfg.Input) {
			in.Instance = "example.com:my-project:us-central1:db"
			in.Instance2 = "example.com:my-project:us-central1:db2?port=7000"
		}),
		"port-overflow": with(fuzzcfg.Bits(fuzzcfg.BitPort, fuzzcfg.BitInstance2), func(in *fuzzcfg.Input) { in.Port = 65535; in.Instance2 = inst2 }),
		"negative": with(allBits, func(in *fuzzcfg.Input) {
			in.Port, in.HealthPort, in.AdminPort, in.Probe = -1, 0, -65536, -1
			in.MinSigterm, in.MaxSigterm, in.JobTimeout, in.TelSampleRate = -1, -1, -1, -1
			in.CPURequest, in.MemoryLimit = "-1", "-1Gi"
		}),
		"extremes": with(allBits, func(in *fuzzcfg.Input) {
			in.Port, in.HealthPort, in.AdminPort, in.Probe = 1<<31-1, -1<<31, 65536, 1<<31-1
			in.MinSigterm, in.MaxSigterm, in.JobTimeout = 1<<63-1, -1<<63, 1<<63-1
			in.MaxConns, in.TelSampleRate = 1<<64-1, 1<<62
			in.CPURequest, in.MemoryLimit = "9223372036854775807", "1e300"
		}),
		"request-above-limit":          with(fuzzcfg.Bits(fuzzcfg.BitResources), func(in *fuzzcfg.Input) { in.CPURequest, in.MemoryLimit = "1", "1" }),
		"shell-metachars-everywhere":   with(allBits, allStrings(hostile)),
		"shell-metachars-in-args-tcp":  with(fuzzcfg.Bits(fuzzcfg.BitTelemetry, fuzzcfg.BitEndpoint), shellInArgs),
		"shell-metachars-in-args-sock": with(fuzzcfg.Bits(fuzzcfg.BitTelemetry, fuzzcfg.BitSocket, fuzzcfg.BitJob), shellInArgs),
		"unicode-everywhere":           with(allBits, allStrings("prøxy-ｐｒｏｊｅｃｔ\u202e\u200bdb\U0001F600")),
		"unicode-lookalikes": with(fuzzcfg.Bits(fuzzcfg.BitInstance2, fuzzcfg.BitName, fuzzcfg.BitSecret), func(in *fuzzcfg.Input) {
			in.Instance = "my-projеct:us-central1:db" // Cyrillic е
			in.Instance2 = "my-project:us-central1:db\u00a0"
			in.Name, in.Secret = "cloudsql-prоxy", "ѕecret"
		}),
		"not-utf8-everywhere": with(allBits, allStrings("db\xff\xfe\x00\x80")),
		"nul-and-newlines": with(fuzzcfg.Bits(fuzzcfg.BitName, fuzzcfg.BitImage, fuzzcfg.BitSocket, fuzzcfg.BitTelemetry, fuzzcfg.BitEndpoint), func(in *fuzzcfg.Input) {
			in.Instance = inst + "\x00"
			in.Name, in.Image, in.SocketDir = "proxy\n", "gcr.io/x:1\x00", "/cloudsql\n"
			in.TelPrefix, in.Endpoint = "a\x00b", "https://example.com/\r\nx"
		}),
		"empty-everywhere": with(allBits, allStrings("")),
		"huge-everywhere":  with(allBits, allStrings(huge)),
		"huge-valid-shape": with(fuzzcfg.Bits(fuzzcfg.BitImage, fuzzcfg.BitSocket, fuzzcfg.BitTelemetry, fuzzcfg.BitEndpoint, fuzzcfg.BitImpersonate), func(in *fuzzcfg.Input) {
			in.Instance = "my-project:us-central1:" + strings.Repeat("d", 200)
			in.Image = "registry.example/" + huge + ":2.25.3"
			in.SocketDir = "/" + strings.Repeat("s", 200)
			in.TelPrefix = huge
			in.Endpoint = "https://example.com/" + huge
			in.Impersonate = strings.Repeat("a@my-project.iam.gserviceaccount.com,", 1000) + "b@x.com"
		}),
	}
}

// fuzzCorpusFile renders args in the format of go test's corpus files.
func fuzzCorpusFile(args []any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		default:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		}
	}
	return []byte(b.String())
}

// fuzzAttachSeeds are FuzzAttachDetach's seed corpus: the proxy index (into
// propConfigs) and a PodSpec as JSON.
func fuzzAttachSeeds() map[string][]any {
	seed := func(which int, json string) []any { return []any{uint8(which), []byte(json)} }
	const app = `{"name":"app","image":"registry.example/app:1","ports":[{"name":"http","containerPort":8080}],"env":[{"name":"MODE","value":"x"}],"volumeMounts":[{"name":"data","mountPath":"/data"}]}`
	const data = `{"name":"data","emptyDir":{}}`
	seeds := map[string][]any{
		"empty":                 seed(0, `{}`),
		"nulls":                 seed(1, `{"initContainers":null,"containers":[null,{}],"volumes":[null],"ephemeralContainers":null}`),
		"app":                   seed(1, `{"restartPolicy":"Never","containers":[`+app+`],"volumes":[`+data+`]}`),
		"migrations":            seed(3, `{"restartPolicy":"OnFailure","initContainers":[{"name":"migrate","image":"m"}],"containers":[`+app+`],"volumes":[`+data+`]}`),
		"existing-native-proxy": seed(1, `{"initContainers":[{"name":"cloudsql-proxy","image":"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.20.0"},{"name":"migrate","image":"m"}],"containers":[`+app+`]}`),
		"existing-v1-proxy":     seed(0, `{"containers":[`+app+`,{"name":"cloudsql-proxy","image":"gcr.io/cloudsql-docker/gce-proxy:1.33.2"}]}`),
		"proxy-in-both-lists":   seed(0, `{"initContainers":[{"name":"cloudsql-proxy","image":"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3"}],"containers":[{"name":"cloudsql-proxy","image":"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3"}]}`),
		// Found by the fuzzer: Attach used to accept two containers of the
		// proxy's name in one list and then refuse its own result.
		"dup-name-in-one-list": seed(7, `{"ContAiners":[{"nAme":"cloudsql-proxy","imAge":"cloud-sql-proxy:"},{"nAme":"cloudsql-proxy"}]}`),
		"proxy-twice-in-init":  seed(0, `{"initContainers":[{"name":"cloudsql-proxy","image":"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3"},{"name":"cloudsql-proxy","image":"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3"}]}`),
		"name-of-unrelated":    seed(0, `{"initContainers":[{"name":"cloudsql-proxy","image":"busybox"}]}`),
		"ephemeral-proxy-name": seed(0, `{"containers":[`+app+`],"ephemeralContainers":[{"name":"cloudsql-proxy","image":"busybox"}]}`),
		"port-clashes":         seed(1, `{"hostNetwork":true,"containers":[{"name":"a","ports":[{"containerPort":9801},{"containerPort":5432},{"containerPort":5433},{"name":"csql-health","containerPort":1}]}]}`),
		"env-same-value":       seed(1, `{"restartPolicy":"Never","containers":[{"name":"a","env":[{"name":"DB_HOST","value":"127.0.0.1"},{"name":"DB_PORT","value":"5432"},{"name":"DB_PORT","value":"5432"}]}]}`),
		"env-other-value":      seed(3, `{"restartPolicy":"Never","containers":[{"name":"a","env":[{"name":"DB_HOST","value":"10.0.0.1"}]}]}`),
		"env-value-from":       seed(1, `{"containers":[{"name":"a","env":[{"name":"DB_PORT","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}}]}]}`),
		"socket-mount-same":    seed(2, `{"containers":[{"name":"a","volumeMounts":[{"name":"cloudsql-proxy-sockets","mountPath":"/cloudsql"}]}],"volumes":[{"name":"cloudsql-proxy-sockets","emptyDir":{}}]}`),
		"socket-mount-other":   seed(2, `{"containers":[{"name":"a","volumeMounts":[{"name":"data","mountPath":"/cloudsql"}]}],"volumes":[`+data+`]}`),
		"volume-other-content": seed(1, `{"containers":[`+app+`],"volumes":[{"name":"cloudsql-proxy-credentials","secret":{"secretName":"other"}}]}`),
		"job-restart-always":   seed(4, `{"restartPolicy":"Always","containers":[`+app+`]}`),
		"job-timeout-never":    seed(5, `{"restartPolicy":"Never","containers":[`+app+`,{"name":"side","image":"s","env":[{"name":"CSQL_PROXY_QUIT_URLS","value":"http://localhost:9091/quitquitquit"}]}]}`),
		"quantities-and-time":  seed(0, `{"containers":[{"name":"a","resources":{"limits":{"cpu":"1.5","memory":"1e3Mi"}}}],"volumes":[{"name":"e","ephemeral":{"volumeClaimTemplate":{"metadata":{"creationTimestamp":"2024-01-01T00:00:00Z"},"spec":{}}}}],"overhead":{"cpu":"10m"}}`),
	}
	many := `{"restartPolicy":"Never","containers":[`
	for i := 0; i < 100; i++ {
		if i > 0 {
			many += ","
		}
		many += fmt.Sprintf(`{"name":"c%d","ports":[{"containerPort":%d}]}`, i, 8000+i)
	}
	seeds["hundred-containers"] = seed(1, many+`]}`)
	return seeds
}

// TestFuzzSeedCorpora keeps testdata/fuzz/FuzzNew and FuzzAttachDetach in
// step with fuzzNewSeeds and fuzzAttachSeeds. Other files there are inputs
// the fuzzer found and are kept.
func TestFuzzSeedCorpora(t *testing.T) {
	news := fuzzNewSeeds()
	corpora := map[string]map[string][]any{"FuzzNew": {}, "FuzzAttachDetach": fuzzAttachSeeds()}
	for name, in := range news {
		corpora["FuzzNew"][name] = fuzzcfg.Args(in)
	}
	for target, seeds := range corpora {
		checkSeedDir(t, filepath.Join("testdata", "fuzz", target), seeds)
	}
}

func checkSeedDir(t *testing.T, dir string, seeds map[string][]any) {
	names := make([]string, 0, len(seeds))
	for name := range seeds {
		names = append(names, name)
	}
	sort.Strings(names)
	if *updateFuzzSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		want := fuzzCorpusFile(seeds[name])
		path := filepath.Join(dir, name)
		if *updateFuzzSeeds {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run go test -run TestFuzzSeedCorpora -update-fuzz-seeds .)", err)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from its seed %q; run go test -run TestFuzzSeedCorpora -update-fuzz-seeds .", path, name)
		}
	}
}
