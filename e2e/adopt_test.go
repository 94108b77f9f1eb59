package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/podspec/cloudsqlproxy"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// adoptDir holds the manifests, modelled on upstream examples, that the
// library's adoption is pinned on (TestAdoptManifestsGolden in the root
// package holds the adopted pod specs).
const adoptDir = "../testdata/adopt"

// adoptableManifests are the manifests of adoptDir with a proxy the library
// adopts. The others it refuses (two proxies in one pod, a proxy run from a
// shell script, a flag read from a ConfigMap, a proxy that takes its port
// from its engine without WithPort, a standalone proxy) or has nothing to
// adopt in.
// adoptions fails when the manifests say otherwise, so that a manifest
// cannot drop out of this tier unnoticed.
var adoptableManifests = []string{
	"v1-dir-tcp-emptydir", "v1-health-check", "v1-sa-key", "v1-shell-alpine", "v1-unix-socket", "v1-watchkiller-job",
	"v2-health-check", "v2-job-quitquitquit", "v2-operator-env", "v2-private-ip-iam",
	"v2-sa-key", "v2-subpath-key", "v2-workload-identity",
}

// adoption is one manifest whose proxy container the library adopted.
type adoption struct {
	name string
	// orig is the workload as the manifest writes it; obj the same workload
	// with the adopted pod spec.
	orig, obj runtime.Object
	old       corev1.Container // the proxy container of the manifest
	proxy     string           // its name, which the adopted proxy keeps
}

// readManifest decodes the one workload of a manifest of adoptDir, strictly.
func readManifest(t *testing.T, name string) runtime.Object {
	t.Helper()
	objs := decodeExampleFile(t, filepath.Join(adoptDir, name+".yaml"))
	if len(objs) != 1 {
		t.Fatalf("%s: %d objects, want 1", name, len(objs))
	}
	obj := objs[0]
	// The dry run sends the object's own apiVersion and kind.
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		gvks, _, err := legacyscheme.Scheme.ObjectKinds(obj)
		if err != nil {
			t.Fatal(err)
		}
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
	return obj
}

// adoptIn migrates the proxy container old of spec the way a user does:
// FromContainer, New with extra after the adopted options (explicit options
// win), Attach.
func adoptIn(spec *corev1.PodSpec, old corev1.Container, extra ...cloudsqlproxy.Option) (*cloudsqlproxy.Proxy, error) {
	insts, opts, err := cloudsqlproxy.FromContainer(old, spec.Volumes)
	if err != nil {
		return nil, err
	}
	for _, in := range insts[1:] {
		opts = append(opts, cloudsqlproxy.WithInstance(in))
	}
	p, err := cloudsqlproxy.New(insts[0], append(opts, extra...)...)
	if err != nil {
		return nil, err
	}
	return p, p.Attach(spec)
}

// adoptions reads every manifest of adoptDir and adopts each proxy container
// in it, and fails unless exactly adoptableManifests come out adopted, each
// with one proxy.
func adoptions(t *testing.T) []adoption {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(adoptDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", adoptDir, err)
	}
	var out []adoption
	var adopted []string
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		orig := readManifest(t, name)
		origSpec := podSpecOf(t, orig)
		var found []adoption
		refused := false
		for _, c := range append(append([]corev1.Container{}, origSpec.InitContainers...), origSpec.Containers...) {
			obj := orig.DeepCopyObject()
			spec := podSpecOf(t, obj)
			_, err := adoptIn(spec, c)
			switch {
			case errors.Is(err, cloudsqlproxy.ErrNotProxy):
			case err != nil:
				refused = true
			default:
				found = append(found, adoption{name: name, orig: orig, obj: obj, old: c, proxy: c.Name})
			}
		}
		if len(found) == 1 && !refused {
			out = append(out, found[0])
			adopted = append(adopted, name)
		} else if len(found) > 0 {
			t.Errorf("%s: %d proxies adopted, %v refused; the tier expects one", name, len(found), refused)
		}
	}
	if diff := cmp.Diff(adoptableManifests, adopted); diff != "" {
		t.Errorf("manifests of %s adopted (-want +got):\n%s", adoptDir, diff)
	}
	return out
}

// appRestricted is what the test gives the application containers of a
// manifest so that the pod can meet Pod Security "restricted": the upstream
// examples set no security context on them. It is set on each application
// container, not on the pod, so the adopted proxy still has to meet the
// policy with its own fields alone.
func appRestricted() *corev1.SecurityContext {
	sc := restricted()
	yes := true
	sc.RunAsNonRoot = &yes
	sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	return sc
}

// restrictedApps is a copy of obj whose application containers (all but
// proxy) have appRestricted, in the namespace the real server uses.
func restrictedApps(t *testing.T, obj runtime.Object, proxy string) runtime.Object {
	t.Helper()
	obj = obj.DeepCopyObject()
	spec := podSpecOf(t, obj)
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			if cs[i].Name != proxy {
				cs[i].SecurityContext = appRestricted()
			}
		}
	}
	clearNamespace(t, obj)
	return obj
}

// clearNamespace drops the manifest's namespace (v2-operator-env names one):
// objects are created in the namespace of the request.
func clearNamespace(t *testing.T, obj runtime.Object) {
	t.Helper()
	m, err := metaOf(obj)
	if err != nil {
		t.Fatal(err)
	}
	m.SetNamespace("")
}

// proxyViolations are the lines of a Pod Security verdict or server warning
// that name the proxy container.
func proxyViolations(err error, warns []string, proxy string) []string {
	var lines []string
	if err != nil {
		lines = strings.Split(err.Error(), "\n")
	}
	lines = append(lines, warns...)
	var out []string
	for _, l := range lines {
		if strings.Contains(l, strconv.Quote(proxy)) {
			out = append(out, l)
		}
	}
	return out
}

// TestAdoptedManifestsValidate puts every adopted manifest through the API
// server's create path and Pod Security "restricted", in-process, and our
// own checks. The manifests' application containers set no security
// context, so the pod as adopted fails "restricted" for them: that verdict
// must name no proxy field. With appRestricted on the application containers
// the whole workload must pass, with zero warnings.
func TestAdoptedManifestsValidate(t *testing.T) {
	for _, a := range adoptions(t) {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			_, _, podMeta, podSpec, err := prepare(a.obj.DeepCopyObject())
			if err != nil {
				t.Fatal(err)
			}
			if v := proxyViolations(podSecurityRestricted(podMeta, podSpec), nil, a.proxy); len(v) > 0 {
				t.Errorf("Pod Security faults the adopted proxy %q:\n%s", a.proxy, strings.Join(v, "\n"))
			}
			obj := restrictedApps(t, a.obj, a.proxy)
			if err := ValidateObject(obj); err != nil {
				t.Errorf("in-process kube-apiserver %s:\n%v", KubernetesVersion(), err)
			}
			if err := CheckPodSpec(podSpecOf(t, obj)); err != nil {
				t.Errorf("CheckPodSpec:\n%v", err)
			}
		})
	}
}

// TestAdoptedManifestsOnRealAPIServer creates every adopted manifest on the
// real kube-apiserver (server-side dry run, strict field validation) in the
// namespace that enforces Pod Security "restricted": as adopted, no
// warning may name the proxy; with appRestricted on the application
// containers it must be accepted with zero warnings.
func TestAdoptedManifestsOnRealAPIServer(t *testing.T) {
	k := sharedKubeServer(t)
	for _, a := range adoptions(t) {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			as := a.obj.DeepCopyObject()
			clearNamespace(t, as)
			warns, err := k.dryRunCreate(as)
			if v := proxyViolations(err, warns, a.proxy); len(v) > 0 {
				t.Errorf("kube-apiserver %s faults the adopted proxy %q:\n%s", k.version, a.proxy, strings.Join(v, "\n"))
			}
			warns, err = k.dryRunCreate(restrictedApps(t, a.obj, a.proxy))
			if err != nil {
				t.Errorf("kube-apiserver %s rejected it: %v", k.version, err)
			}
			for _, w := range warns {
				t.Errorf("kube-apiserver %s warning: %s", k.version, w)
			}
		})
	}
}

// proxyContainer is the container of spec named name.
func proxyContainer(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	t.Fatalf("no container %q in the pod", name)
	return nil
}

// portQueryRE is an instance's ?port= (or &port=) parameter.
var portQueryRE = regexp.MustCompile(`([?&]port=)(\d+)`)

// movePorts rewrites, by moved (old port -> new port, as decimal text), the
// ports in c's arguments (--http-port, --admin-port, --port, an instance's
// ?port=, also a --port or --http-port given as the next argument) and
// environment (CSQL_PROXY_PORT, CSQL_PROXY_HTTP_PORT, CSQL_PROXY_ADMIN_PORT,
// CSQL_PROXY_INSTANCE_CONNECTION_NAME*, a quit URL) and its declared ports.
func movePorts(c *corev1.Container, moved func(string) string) {
	portFlags := []string{"--port", "--http-port", "--admin-port", "-p"}
	args := c.Args
	if len(c.Command) > 1 {
		// A v2 container that names its flags in the command.
		args = c.Command
	}
	for i, a := range args {
		switch name, v, ok := strings.Cut(a, "="); {
		case ok && slices.Contains(portFlags, name):
			args[i] = name + "=" + moved(v)
		case i > 0 && slices.Contains(portFlags, args[i-1]):
			args[i] = moved(a)
		case !strings.HasPrefix(a, "-"):
			args[i] = movePortQuery(a, moved)
		}
	}
	for i, e := range c.Env {
		switch {
		case e.Name == "CSQL_PROXY_PORT" || e.Name == "CSQL_PROXY_HTTP_PORT" || e.Name == "CSQL_PROXY_ADMIN_PORT":
			c.Env[i].Value = moved(e.Value)
		case strings.HasPrefix(e.Name, "CSQL_PROXY_INSTANCE_CONNECTION_NAME"):
			c.Env[i].Value = movePortQuery(e.Value, moved)
		case e.Name == cloudsqlproxy.QuitURLsEnv:
			c.Env[i].Value = moveURLPort(e.Value, moved)
		}
	}
	for i, p := range c.Ports {
		if n, err := strconv.Atoi(moved(strconv.Itoa(int(p.ContainerPort)))); err == nil {
			c.Ports[i].ContainerPort = int32(n)
		}
	}
}

func movePortQuery(s string, moved func(string) string) string {
	return portQueryRE.ReplaceAllStringFunc(s, func(q string) string {
		sm := portQueryRE.FindStringSubmatch(q)
		return sm[1] + moved(sm[2])
	})
}

var urlPortRE = regexp.MustCompile(`^(\w+://[^/:]+:)(\d+)(/.*)?$`)

func moveURLPort(u string, moved func(string) string) string {
	sm := urlPortRE.FindStringSubmatch(u)
	if sm == nil {
		return u
	}
	return sm[1] + moved(sm[2]) + sm[3]
}

// portMover hands out a free port for each port of a container it is
// asked about, the same one each time, and records the moves both ways.
type portMover struct {
	t        *testing.T
	fwd, inv map[string]string
}

func newPortMover(t *testing.T) *portMover {
	return &portMover{t: t, fwd: map[string]string{}, inv: map[string]string{}}
}

// move maps port to a free one; block > 1 reserves the ports after it too,
// for instances the proxy or the library number from it.
func (pm *portMover) move(port string, block int) string {
	if port == "" {
		return ""
	}
	if n, ok := pm.fwd[port]; ok {
		return n
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		pm.t.Fatalf("port %q: %v", port, err)
	}
	base := int(freePort(pm.t, block))
	for i := 0; i < block; i++ {
		from, to := strconv.Itoa(p+i), strconv.Itoa(base+i)
		if _, taken := pm.inv[from]; taken {
			pm.t.Fatalf("port %s of the container is also a port moved to", from)
		}
		if _, ok := pm.fwd[from]; !ok {
			pm.fwd[from], pm.inv[to] = to, from
		}
	}
	return pm.fwd[port]
}

// lookup is where port was moved, or port.
func (pm *portMover) lookup(port string) string {
	if n, ok := pm.fwd[port]; ok {
		return n
	}
	return port
}

// TestAdoptedProxiesRunUnderRealProxy runs every adopted proxy container with
// the real proxy binary and checks, with proveProxy, its probes, listeners
// and health server and that it stops cleanly on SIGTERM (and through its
// quit URL when it has one).
//
// Parallel runs must not share ports, so the test moves them, the way a
// user would ask for other ports: the health and admin ports through
// WithHealthPort and WithAdminPort given after the adopted options, which
// must win, as must WithPort when the manifest gave the first instance's
// port with --port. A port that the manifest gave per instance (v1's
// =tcp:PORT, ?port=) has no option to override it and is moved in the
// arguments, as is the quit URL the application is given. Moved back, the
// container must be exactly the one adopted without options.
func TestAdoptedProxiesRunUnderRealProxy(t *testing.T) {
	for _, a := range adoptions(t) {
		base := proxyContainer(t, podSpecOf(t, a.obj), a.proxy)
		stops := []stopBy{stopSIGTERM}
		if argsOf(base).has("quitquitquit") {
			stops = append(stops, stopQuitURL)
		}
		for _, stop := range stops {
			t.Run(a.name+"/"+strings.ReplaceAll(string(stop), " ", "-"), func(t *testing.T) {
				t.Parallel()
				spec := movedAdoption(t, a, base)
				if err := proveProxy(t, spec, a.proxy, runOpts{stop: stop}); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// movedAdoption adopts a's proxy again with its ports moved to free ones
// (see TestAdoptedProxiesRunUnderRealProxy) and checks that nothing but the
// ports changed.
func movedAdoption(t *testing.T, a adoption, base *corev1.Container) *corev1.PodSpec {
	t.Helper()
	f := argsOf(base)
	pm := newPortMover(t)
	var extra []cloudsqlproxy.Option
	atoi := func(s string) int32 { n, _ := strconv.Atoi(s); return int32(n) }
	if v, ok := f.value("http-port"); ok {
		extra = append(extra, cloudsqlproxy.WithHealthPort(atoi(pm.move(v, 1))))
	}
	if v, ok := f.value("admin-port"); ok {
		extra = append(extra, cloudsqlproxy.WithAdminPort(atoi(pm.move(v, 1))))
	}
	insts, _, err := cloudsqlproxy.FromContainer(a.old, podSpecOf(t, a.orig).Volumes)
	if err != nil {
		t.Fatal(err)
	}
	inst := insts[0]
	if !f.has("unix-socket") && !portQueryRE.MatchString(inst) {
		extra = append(extra, cloudsqlproxy.WithPort(atoi(pm.move(f.instances[0].query["port"], len(f.instances)))))
	}
	obj := a.orig.DeepCopyObject()
	spec := podSpecOf(t, obj)
	if _, err := adoptIn(spec, a.old, extra...); err != nil {
		t.Fatalf("adopting with the ports moved: %v", err)
	}
	run := proxyContainer(t, spec, a.proxy)
	for _, in := range f.instances {
		pm.move(in.query["port"], 1)
	}
	movePorts(run, pm.lookup)
	// The quit URL the operator gives the applications names the admin port.
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			for j, e := range cs[i].Env {
				if cs[i].Name != a.proxy && e.Name == cloudsqlproxy.QuitURLsEnv {
					cs[i].Env[j].Value = moveURLPort(e.Value, pm.lookup)
				}
			}
		}
	}
	t.Logf("ports moved: %v", pm.fwd)
	back := run.DeepCopy()
	movePorts(back, func(p string) string {
		if n, ok := pm.inv[p]; ok {
			return n
		}
		return p
	})
	if diff := cmp.Diff(base, back); diff != "" {
		t.Errorf("adopted with ports %v, then moved back, the container is not the one adopted without options (-want +got):\n%s", pm.fwd, diff)
	}
	return spec
}

// proxySettings are the settings of a proxy container that an adoption must
// keep, as its arguments give them to the proxy.
type proxySettings struct {
	// Instances are the connection names with their query parameters
	// (sorted), among them the listener's port.
	Instances []string
	// Address is --address; UnixSocket --unix-socket.
	Address, UnixSocket string
	// HealthPort and AdminPort are --http-port and --admin-port.
	HealthPort, AdminPort string
	AutoIAMAuthn          bool
	PrivateIP             bool
	QuitQuitQuit          bool
	// Credentials is the key file's Secret and key, "SECRET/KEY", found
	// through the container's mounts from --credentials-file.
	Credentials string
	// Impersonate is --impersonate-service-account.
	Impersonate string
	// Other are the remaining flags the test table names, "--flag=value".
	Other []string
}

// otherSettings are the flags, besides the fields of proxySettings, that the
// manifests set and that adoption carries over.
var otherSettings = []string{"auto-ip", "max-sigterm-delay", "user-agent", "quota-project", "quiet", "structured-logs"}

// settingsOf reads the settings of the proxy container c of spec.
func settingsOf(t *testing.T, spec *corev1.PodSpec, c *corev1.Container) proxySettings {
	t.Helper()
	f := argsOf(c)
	var s proxySettings
	for _, in := range f.instances {
		q := url.Values{}
		for k, v := range in.query {
			q.Set(k, v)
		}
		name := in.name
		if len(q) > 0 {
			name += "?" + q.Encode()
		}
		s.Instances = append(s.Instances, name)
	}
	s.Address, _ = f.value("address")
	s.UnixSocket, _ = f.value("unix-socket")
	s.HealthPort, _ = f.value("http-port")
	s.AdminPort, _ = f.value("admin-port")
	s.AutoIAMAuthn = f.has("auto-iam-authn")
	s.PrivateIP = f.has("private-ip")
	s.QuitQuitQuit = f.has("quitquitquit")
	s.Impersonate, _ = f.value("impersonate-service-account")
	if file, ok := f.value("credentials-file"); ok {
		s.Credentials = secretKeyAt(t, spec, c, file)
	}
	for _, name := range otherSettings {
		if v, ok := f.value(name); ok && v != "" {
			s.Other = append(s.Other, "--"+name+"="+v)
		} else if f.has(name) {
			s.Other = append(s.Other, "--"+name)
		}
	}
	return s
}

// secretKeyAt is "SECRET/KEY" of the Secret key the container c of spec
// sees at file.
func secretKeyAt(t *testing.T, spec *corev1.PodSpec, c *corev1.Container, file string) string {
	t.Helper()
	m, rest, ok := mountAt(c, path.Clean(file))
	if !ok || rest == "" {
		t.Errorf("credentials file %s is on no volume of the container", file)
		return ""
	}
	rel := strings.TrimPrefix(rest, "/")
	for _, v := range spec.Volumes {
		if v.Name != m.Name {
			continue
		}
		if v.Secret == nil {
			t.Errorf("credentials file %s: volume %q is not a Secret", file, v.Name)
			return ""
		}
		key := rel
		for _, it := range v.Secret.Items {
			if path.Clean(it.Path) == rel {
				key = it.Key
			}
		}
		return v.Secret.SecretName + "/" + key
	}
	t.Errorf("credentials file %s: the pod has no volume %q", file, m.Name)
	return ""
}

// TestAdoptKeepsSettings checks, for each adopted manifest, that the adopted
// container's arguments keep what the original told its proxy: instances and
// their ports, listen address or socket directory, health and admin ports,
// IAM authentication (proxy-wide or per instance), private IP, the key
// file's Secret, impersonation and the other flags it set. The wants are
// written from the manifests by hand, where the proxy reads them (v1 flags
// translated per upstream's migration guide); where a manifest leaves a
// setting to the proxy's default the want is the library's own value (the
// health server, which the library always runs). The real proxy's reading of
// the v2 originals is checked by TestAdoptListenersAgainstRealProxy.
func TestAdoptKeepsSettings(t *testing.T) {
	tests := []struct {
		manifest string
		// edit, if set, changes the manifest's pod first, as a user who
		// fixes what the refusal names.
		edit func(spec *corev1.PodSpec)
		want proxySettings
	}{
		{manifest: "v1-health-check", want: proxySettings{
			Instances: []string{"my-project:us-central1:inventory-db?port=5432"}, Address: "127.0.0.1",
			HealthPort: "8090", Credentials: "inventory-cloudsql-sa-key/service_account.json",
			Other: []string{"--auto-ip", "--structured-logs"},
		}},
		{manifest: "v1-sa-key", want: proxySettings{
			Instances: []string{"my-project:us-central1:shop-db?port=5432"}, Address: "127.0.0.1",
			HealthPort: "9801", Credentials: "shop-cloudsql-sa-key/service_account.json",
			Other: []string{"--auto-ip", "--structured-logs"},
		}},
		{manifest: "v1-shell-alpine", want: proxySettings{
			Instances: []string{"my-project:us-east1:ledger-db?port=5432"}, Address: "0.0.0.0",
			HealthPort: "9801", AutoIAMAuthn: true, PrivateIP: true, Credentials: "ledger-cloudsql/credentials.json",
			Other: []string{"--max-sigterm-delay=30s", "--structured-logs"},
		}},
		{manifest: "v1-unix-socket", want: proxySettings{
			Instances: []string{"my-project:europe-west1:wiki-pg", "my-project:europe-west1:wiki-search"}, UnixSocket: "/cloudsql",
			HealthPort: "9801",
			Other:      []string{"--auto-ip", "--max-sigterm-delay=20s", "--quiet", "--structured-logs"},
		}},
		{manifest: "v2-health-check", want: proxySettings{
			Instances: []string{"my-project:us-central1:catalog-db?port=5432"}, Address: "127.0.0.1",
			HealthPort: "9801", AdminPort: "9092", QuitQuitQuit: true,
			Other: []string{"--structured-logs"},
		}},
		{manifest: "v2-job-quitquitquit", want: proxySettings{
			Instances: []string{"my-project:us-central1:warehouse?port=5432"}, Address: "127.0.0.1",
			HealthPort: "9801", AdminPort: "9091", QuitQuitQuit: true,
			Other: []string{"--structured-logs"},
		}},
		{manifest: "v2-operator-env", want: proxySettings{
			Instances: []string{"my-project:us-central1:checkout-db?auto-iam-authn=true&port=5000"}, Address: "127.0.0.1",
			HealthPort: "9801", AdminPort: "9091", QuitQuitQuit: true,
			Other: []string{"--max-sigterm-delay=30s", "--user-agent=cloud-sql-proxy-operator/1.8.1", "--structured-logs"},
		}},
		{manifest: "v2-private-ip-iam", want: proxySettings{
			Instances: []string{
				"my-project:us-central1:reports-pg?auto-iam-authn=true&port=5432",
				"my-project:us-central1:reports-mysql?port=3306",
			},
			Address: "127.0.0.1", HealthPort: "9801", PrivateIP: true,
			Other: []string{"--structured-logs"},
		}},
		{manifest: "v2-sa-key", want: proxySettings{
			Instances: []string{"my-project:us-central1:billing-db?port=5432"}, Address: "127.0.0.1",
			HealthPort: "9801", AutoIAMAuthn: true, Credentials: "billing-proxy-sa-key/service_account.json",
			Other: []string{"--structured-logs"},
		}},
		{manifest: "v1-dir-tcp-emptydir", want: proxySettings{
			Instances: []string{"my-project:us-central1:reports?port=5432"}, Address: "127.0.0.1",
			HealthPort: "9801", Other: []string{"--auto-ip", "--structured-logs"},
		}},
		{manifest: "v1-watchkiller-job", want: proxySettings{
			Instances: []string{"my-project:asia-northeast1:reports?port=3306"}, Address: "127.0.0.1",
			HealthPort: "9801", Credentials: "cloudsql-instance-credentials/credentials.json",
			Other: []string{"--auto-ip", "--structured-logs"},
		}},
		{manifest: "v2-subpath-key", want: proxySettings{
			Instances: []string{"my-project:us-central1:orders?port=5432"}, Address: "127.0.0.1",
			HealthPort: "9801", Credentials: "orders-sql-key/sa.json", Other: []string{"--structured-logs"},
		}},
		{manifest: "v2-workload-identity", want: proxySettings{
			Instances: []string{"my-project:us-central1:orders-db?port=5432"}, Address: "127.0.0.1",
			HealthPort: "9801", AutoIAMAuthn: true,
			Other: []string{"--structured-logs"},
		}},
		{
			// Refused as written (its quota project comes from a
			// ConfigMap); with the value written out it adopts, keeping
			// the impersonation and both env instances.
			manifest: "v2-env-only",
			edit: func(spec *corev1.PodSpec) {
				for i, e := range spec.InitContainers[0].Env {
					if e.Name == "CSQL_PROXY_QUOTA_PROJECT" {
						spec.InitContainers[0].Env[i] = corev1.EnvVar{Name: e.Name, Value: "rollup-billing"}
					}
				}
			},
			want: proxySettings{
				Instances: []string{"my-project:us-central1:events?port=5432", "my-project:us-central1:metrics?port=5433"},
				Address:   "127.0.0.1", HealthPort: "9801", AutoIAMAuthn: true,
				Impersonate: "rollup@my-project.iam.gserviceaccount.com",
				Other:       []string{"--quota-project=rollup-billing", "--structured-logs"},
			},
		},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.manifest] = true
		t.Run(tt.manifest, func(t *testing.T) {
			obj := readManifest(t, tt.manifest)
			spec := podSpecOf(t, obj)
			if tt.edit != nil {
				tt.edit(spec)
			}
			var proxy string
			var err error
			for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
				if _, _, e := cloudsqlproxy.FromContainer(c, spec.Volumes); errors.Is(e, cloudsqlproxy.ErrNotProxy) {
					continue
				}
				proxy = c.Name
				_, err = adoptIn(spec, c)
				break
			}
			if proxy == "" || err != nil {
				t.Fatalf("no proxy adopted (%q): %v", proxy, err)
			}
			got := settingsOf(t, spec, proxyContainer(t, spec, proxy))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("settings of the adopted proxy (-want +got):\n%s", diff)
			}
		})
	}
	for _, m := range adoptableManifests {
		if !covered[m] {
			t.Errorf("manifest %s has no row", m)
		}
	}
}

// listenerRE is the proxy's log line for a listener, plain or structured.
var listenerRE = regexp.MustCompile(`\[([^\]]*)\] Listening on ([^\s"]+)`)

// listenersOf runs the container name of spec with the real proxy, mapped
// as proveProxy maps it (the binary, paths, credentials, the fake SQL Admin
// API), until it is ready for connections, stops it, and returns the
// listeners it reported, "instance@address", sorted.
func listenersOf(t *testing.T, spec *corev1.PodSpec, name string) ([]string, error) {
	t.Helper()
	r, err := newProxyRun(t, spec, name, runOpts{stop: stopSIGTERM})
	if err != nil {
		return nil, err
	}
	p, err := startProcess(t, r.argv, r.env, r.log, r.cred)
	if err != nil {
		return nil, err
	}
	defer func() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); <-p.done }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.log.mu.Lock()
		out := r.log.b.String()
		r.log.mu.Unlock()
		if strings.Contains(out, "ready for new connections") {
			var ls []string
			for _, m := range listenerRE.FindAllStringSubmatch(out, -1) {
				ls = append(ls, m[1]+"@"+m[2])
			}
			sort.Strings(ls)
			return ls, nil
		}
		if p.exited() || time.Now().After(deadline) {
			return nil, fmt.Errorf("the proxy was not ready (exit status %d)\n--- argv: %q\n--- output:\n%s", p.exitCode(), r.argv, r.log.tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdoptListenersAgainstRealProxy runs each v2 proxy container, as the
// manifest writes it and as adopted, with the real proxy, and checks that
// both listen on the same addresses: the proxy's own reading of the
// original's flags, environment and instances is what adoption must keep.
// Besides the v2 manifests it runs shapes where the proxy's port numbering
// and the library's could part. Ports are moved to free ones (the same in
// both runs), and the adopted proxy's health and admin servers, which the
// comparison leaves out, to free ones of their own.
func TestAdoptListenersAgainstRealProxy(t *testing.T) {
	type runCase struct {
		name string
		spec *corev1.PodSpec
		old  corev1.Container
		// originalFails is what the proxy fails with when it cannot run
		// the original; then adoption must refuse it too, with an error
		// containing refused.
		originalFails, refused string
		// fixedPort is a port the original listens on that the test cannot
		// move, as the proxy picks it itself.
		fixedPort string
		// opts are given to the adoption besides the moved ports.
		opts []cloudsqlproxy.Option
	}
	var cases []runCase
	for _, a := range adoptions(t) {
		if strings.HasPrefix(a.name, "v2-") {
			cases = append(cases, runCase{name: a.name, spec: podSpecOf(t, a.orig), old: a.old})
		}
	}
	const pgA, pgB, pgC = "my-project:us-central1:pg-a", "my-project:us-central1:pg-b", "my-project:us-central1:pg-c"
	shape := func(name string, args []string, env ...corev1.EnvVar) runCase {
		spec := appPodSpec(corev1.RestartPolicyAlways)
		c := corev1.Container{Name: "cloud-sql-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1", Args: args, Env: env}
		spec.Containers = append(spec.Containers, c)
		return runCase{name: name, spec: &spec, old: c}
	}
	clash := shape("an instance's own port that --port numbers another one with", []string{"--port=6000", pgA, pgB + "?port=6001", pgC})
	// The proxy numbers pg-c 6001 (pg-b's own port does not count), which
	// pg-b has.
	clash.originalFails, clash.refused = "bind: address already in use", "is also the port of instance "+pgB
	// Without a port the proxy takes the database engine's (3306 for MySQL,
	// from the SQL Admin API at startup), which no option expresses.
	engine := shape("an instance without a port, which the proxy takes from its engine", []string{"my-project:us-central1:shop-mysql"})
	engine.fixedPort = "3306"
	engine.refused = "from its database engine"
	// With the port the application connects to given, it is adopted and
	// listens where the original does.
	enginePort := shape("an instance without a port, adopted with WithPort", []string{"my-project:us-central1:shop-mysql"})
	enginePort.fixedPort = "3306"
	enginePort.opts = []cloudsqlproxy.Option{cloudsqlproxy.WithPort(3306)}
	cases = append(cases, enginePort,
		shape("--port numbers the instances without their own port", []string{"--port=6000", pgA, pgB + "?port=7000", pgC}),
		shape("CSQL_PROXY_PORT numbers the instances without their own port", []string{pgA, pgB + "?port=7000", pgC},
			corev1.EnvVar{Name: "CSQL_PROXY_PORT", Value: "6000"}),
		shape("instances with ports of their own", []string{pgA + "?port=7000", pgB + "?port=6000", pgC + "?port=6001"}),
		shape("a first instance with its own port, the others numbered from --port", []string{"--port=6000", pgA + "?port=5000", pgB, pgC}),
		shape("a first instance with its own port, the next numbered right after it", []string{"--port=5001", pgA + "?port=5000", pgB}),
		shape("CSQL_PROXY_PORT beside a first instance with its own port", []string{pgA + "?port=5000", pgB},
			corev1.EnvVar{Name: "CSQL_PROXY_PORT", Value: "6000"}),
		clash, engine,
	)
	for _, rc := range cases {
		t.Run(rc.name, func(t *testing.T) {
			if rc.fixedPort == "" {
				// The cases on a port the proxy picks itself run one by one.
				t.Parallel()
			}
			if rc.fixedPort != "" {
				l, err := net.Listen("tcp", "127.0.0.1:"+rc.fixedPort)
				if err != nil {
					t.Skipf("port %s, which the proxy picks itself here, is taken: %v", rc.fixedPort, err)
				}
				l.Close()
			}
			pm := newPortMover(t)
			move := func(p string) string { return pm.move(p, 4) }
			spec := rc.spec.DeepCopy()
			orig := proxyContainer(t, spec, rc.old.Name)
			movePorts(orig, move)
			old := *orig.DeepCopy()
			if len(orig.Command) == 0 {
				// The entrypoint of the proxy's images.
				orig.Command = []string{"/cloud-sql-proxy"}
			}
			want, err := listenersOf(t, spec, rc.old.Name)
			if rc.originalFails == "" && err != nil || rc.originalFails != "" && (err == nil || !strings.Contains(err.Error(), rc.originalFails)) {
				t.Fatalf("the original: %v; want it to fail with %q", err, rc.originalFails)
			}
			*orig = old
			_, err = adoptIn(spec, old, append([]cloudsqlproxy.Option{
				cloudsqlproxy.WithHealthPort(int32(mustAtoi(t, move(strconv.Itoa(int(cloudsqlproxy.DefaultHealthPort)))))),
				cloudsqlproxy.WithAdminPort(int32(mustAtoi(t, move(strconv.Itoa(int(cloudsqlproxy.DefaultAdminPort))))))}, rc.opts...)...)
			if rc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), rc.refused) {
					t.Fatalf("adopting: %v, want a refusal with %q", err, rc.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("adopting: %v", err)
			}
			got, err := listenersOf(t, spec, rc.old.Name)
			if err != nil {
				t.Fatalf("the adopted proxy: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("listeners of the adopted proxy against the original's, ports moved %v (-original +adopted):\n%s", pm.fwd, diff)
			}
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
