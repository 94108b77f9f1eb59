package e2e

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/internal/procstat"
	corev1 "k8s.io/api/core/v1"
	secretvolume "k8s.io/kubernetes/pkg/volume/secret"
	volumeutil "k8s.io/kubernetes/pkg/volume/util"
)

// How a run of the proxy ends.
type stopBy string

const (
	stopSIGTERM stopBy = "SIGTERM"     // what the kubelet sends when the pod stops
	stopQuitURL stopBy = "quit URL"    // what a Job's application calls when it is done
	stopTimeout stopBy = "own timeout" // the Job-mode shell wrapper stops the proxy itself
)

// runOpts says how to run one generated proxy container.
type runOpts struct {
	stop stopBy
	// shell runs the container's "/bin/sh" (nil: the host's /bin/sh, dash on Debian);
	// e.g. {"busybox", "sh"} for the ash of the proxy's -alpine image.
	shell []string
	// appEnv lists the environment variable names the case gave the applications, so
	// the run can connect where the applications are told to.
	appEnv []cloudsqlproxy.AppEnv
	// job: the applications must be given the quit URL (Job mode), rather than the run
	// finding the admin server from the proxy's flags.
	job bool
}

// proveProxy runs the named proxy container of spec as a local process the way the kubelet
// would and checks, against the real binary, every promise the container makes:
//   - its postStart wait hook (if any) blocks while the proxy is down, then returns 0
//     once the proxy has started;
//   - each probe, resolved through the container's declared ports, answers 200 on the
//     path it names, from an address other than 127.0.0.1 (as the kubelet probes the pod
//     IP, not localhost), within the budget the startup probe allows;
//   - every listener its arguments declare and every host/port/socket the applications
//     are told about accepts connections, and a listener on 127.0.0.1 is not reachable
//     from the pod IP stand-in;
//   - Prometheus metrics and the debug server answer when enabled;
//   - it stops the way ro.stop says and exits 0.
//
// Mapping, as the kubelet and the image do it: "/cloud-sql-proxy" (the image's binary) is
// the real binary built at the library's default version; it runs as the container's user
// when the tests run as root; each volume is a temp directory with the kubelet's
// permissions, mounted at the container's mountPath (the prefix is rewritten in the arguments);
// Google's services are replaced by --token=test (plus --login-token=test with
// --auto-iam-authn; a mounted credentials file is instead a fake service-account key, and
// with per-instance auto-iam-authn, where the proxy refuses a static token, so is the
// Application Default Credentials file) and by --sqladmin-api-endpoint pointing at fakeAdminAPI
// (unless the container names its own API endpoint or universe). No other argument is
// changed. It returns nil or an error naming everything that failed, with the proxy's log.
func proveProxy(t *testing.T, spec *corev1.PodSpec, proxyName string, ro runOpts) error {
	t.Helper()
	r, err := newProxyRun(t, spec, proxyName, ro)
	if err != nil {
		return err
	}
	err = r.prove()
	if err != nil {
		return fmt.Errorf("%w\n--- proxy argv: %q\n--- proxy output:\n%s", err, r.argv, r.log.tail(60))
	}
	return nil
}

type proxyRun struct {
	t      *testing.T
	ro     runOpts
	spec   *corev1.PodSpec
	c      *corev1.Container
	bin    string
	dir    string
	mounts map[string]string // volume name -> host directory
	argv   []string
	env    []string
	api    *fakeAdminAPI
	log    *syncBuffer
	// cred is the container's user and groups, which the proxy (and its hook) run as;
	// nil when the tests do not run as root and so cannot switch users.
	cred *syscall.Credential
}

func newProxyRun(t *testing.T, spec *corev1.PodSpec, name string, ro runOpts) (*proxyRun, error) {
	b, err := RealBinary(ComponentProxy)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v" + cloudsqlproxy.DefaultVersion; b.Version != want {
		t.Fatalf("built proxy %s, but the library defaults to %s", b.Version, want)
	}
	r := &proxyRun{t: t, ro: ro, spec: spec, bin: runnableCopy(t, b.Path), api: sharedAdminAPI(t), log: &syncBuffer{}}
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				r.c = &list[i]
			}
		}
	}
	if r.c == nil {
		return nil, fmt.Errorf("no container %q in the pod", name)
	}
	if os.Geteuid() == 0 {
		if r.cred, err = containerCredential(spec, r.c); err != nil {
			return nil, err
		}
	}
	// Unix socket paths are limited to 108 bytes: keep the temp root short. The container's
	// user must be able to reach everything below it.
	r.dir, err = os.MkdirTemp("/tmp", "csql")
	if err == nil {
		err = os.Chmod(r.dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(r.dir) })
	r.mounts = map[string]string{}
	for i, v := range spec.Volumes {
		d := filepath.Join(r.dir, "v"+strconv.Itoa(i))
		// The kubelet makes an emptyDir, and the tmpfs under a secret volume, writable by all.
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if v.EmptyDir != nil || v.Secret != nil {
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		r.mounts[v.Name] = d
	}

	hostCmd := append(append([]string{}, r.c.Command...), r.c.Args...)
	if len(hostCmd) == 0 {
		return nil, errors.New("the container has neither command nor args")
	}
	for i, a := range hostCmd {
		hostCmd[i] = r.mapArg(r.c, a)
	}
	if hostCmd[0] == "/bin/sh" && ro.shell != nil {
		hostCmd = append(append([]string{}, ro.shell...), hostCmd[1:]...)
	}
	flags := argsOf(r.c)
	if cf, ok := flags.value("credentials-file"); ok {
		if err := r.provideCredentials(cf); err != nil {
			return nil, err
		}
	} else if !perInstanceIAM(flags) {
		hostCmd = append(hostCmd, "--token=test")
		if flags.has("auto-iam-authn") {
			hostCmd = append(hostCmd, "--login-token=test")
		}
	}
	// Otherwise (IAM authentication asked per instance, where the proxy cannot take a
	// static token) credentials come from Application Default Credentials, as on GKE.
	if !flags.has("universe-domain") && !flags.has("sqladmin-api-endpoint") {
		hostCmd = append(hostCmd, "--sqladmin-api-endpoint="+r.api.URL)
	}
	for _, inst := range flags.instances {
		if err := r.api.register(inst.name); err != nil {
			return nil, err
		}
	}
	r.argv = hostCmd

	adc := filepath.Join(r.dir, "adc.json")
	key, err := fakeServiceAccountKey(r.api.URL + "token")
	if err == nil {
		err = writeReadable(adc, key, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Application Default Credentials from a file, and the GCE metadata server on a
	// closed loopback port: otherwise the Google client libraries the proxy uses (for
	// telemetry, impersonation) probe 169.254.169.254, which a pod on GKE has and this
	// machine must never send to.
	r.env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + r.dir,
		"GOOGLE_APPLICATION_CREDENTIALS=" + adc,
		"GCE_METADATA_HOST=127.0.0.1:1",
		"GCE_METADATA_IP=127.0.0.1:1",
		// Whatever else the proxy sends to Google (telemetry export, token exchange, the API
		// of another universe) goes to a closed loopback port instead of the network.
		"HTTPS_PROXY=http://127.0.0.1:1",
		"NO_PROXY=127.0.0.1,localhost",
	}
	for _, e := range r.c.Env {
		if e.ValueFrom != nil {
			return nil, fmt.Errorf("env %s: valueFrom is not supported by this harness", e.Name)
		}
		r.env = append(r.env, e.Name+"="+e.Value)
	}
	return r, nil
}

func perInstanceIAM(f proxyFlags) bool {
	for _, in := range f.instances {
		if in.query["auto-iam-authn"] == "true" {
			return true
		}
	}
	return false
}

// containerCredential is the identity the kubelet starts c with: runAsUser and runAsGroup
// from its securityContext, else from the pod's, else the image's (65532:65532 in both
// proxy images); the pod's supplementalGroups as further groups.
func containerCredential(spec *corev1.PodSpec, c *corev1.Container) (*syscall.Credential, error) {
	uid, gid := int64(65532), int64(65532)
	var groups []uint32
	if psc := spec.SecurityContext; psc != nil {
		if psc.FSGroup != nil {
			// The kubelet would also hand every volume to this group; the harness does not.
			return nil, errors.New("the pod sets fsGroup, which this harness does not emulate")
		}
		if psc.RunAsUser != nil {
			uid = *psc.RunAsUser
		}
		if psc.RunAsGroup != nil {
			gid = *psc.RunAsGroup
		}
		for _, g := range psc.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}, nil
}

var (
	runnableMu     sync.Mutex
	runnableCopies = map[string]string{} // binary -> its runnable copy
)

// runnableCopy returns a copy of the binary at path that any user can run: the build cache
// may sit under a home directory only its owner can enter. Each binary is copied once (the
// gating tests run two proxy releases); the copies live until the test binary ends
// (TestMain removes them).
func runnableCopy(t *testing.T, path string) string {
	runnableMu.Lock()
	defer runnableMu.Unlock()
	if c, ok := runnableCopies[path]; ok {
		return c
	}
	dir, err := os.MkdirTemp("/tmp", "csql-bin") // not $TMPDIR, which may be private
	if err != nil {
		t.Fatalf("copy %s: %v", path, err)
	}
	runnableDirs = append(runnableDirs, dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("copy %s: %v", path, err)
	}
	c := filepath.Join(dir, filepath.Base(path))
	if err := writeReadable(c, data, 0o755); err != nil {
		t.Fatalf("copy %s: %v", path, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("copy %s: %v", path, err)
	}
	runnableCopies[path] = c
	return c
}

// writeReadable writes a file with exactly mode perm, whatever the umask, for the
// container's user to read (or run).
func writeReadable(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return err
	}
	return os.Chmod(path, perm)
}

// runnableDirs are removed by TestMain.
var runnableDirs []string

// provideCredentials puts a fake service-account key where the container reads its
// credentials file. The volume holding it must be a secret; it is laid out by the
// kubelet's own code for secret volumes (the payload with the volume's modes and items,
// written atomically behind a ..data link), with files owned by the user running the
// tests as the kubelet's are by root. A mode the container's user cannot read then fails
// the run the way it fails the pod.
func (r *proxyRun) provideCredentials(path string) error {
	vol, rel, ok := r.volumeAt(path)
	if !ok {
		return fmt.Errorf("credentials file %s is on no volume of the container", path)
	}
	if vol.Secret == nil {
		return fmt.Errorf("credentials file %s: volume %q is not a secret", path, vol.Name)
	}
	key := rel
	for _, it := range vol.Secret.Items {
		if it.Path == rel {
			key = it.Key
		}
	}
	data, err := fakeServiceAccountKey(r.api.URL + "token")
	if err != nil {
		return err
	}
	mode := corev1.SecretVolumeSourceDefaultMode // what the API server defaults it to
	if vol.Secret.DefaultMode != nil {
		mode = *vol.Secret.DefaultMode
	}
	secret := &corev1.Secret{Data: map[string][]byte{key: data}}
	payload, err := secretvolume.MakePayload(vol.Secret.Items, secret, &mode, vol.Secret.DefaultUser, false)
	if err != nil {
		return fmt.Errorf("secret volume %q: %w", vol.Name, err)
	}
	w, err := volumeutil.NewAtomicWriter(r.mounts[vol.Name], "e2e volume "+vol.Name)
	if err != nil {
		return err
	}
	return w.Write(payload, nil)
}

// volumeAt finds the volume the container sees at path (its deepest mount holding it) and
// the path inside that volume.
func (r *proxyRun) volumeAt(path string) (corev1.Volume, string, bool) {
	m, rest, ok := mountAt(r.c, path)
	if !ok || rest == "" {
		return corev1.Volume{}, "", false
	}
	for _, v := range r.spec.Volumes {
		if v.Name == m.Name {
			return v, strings.TrimPrefix(rest, "/"), true
		}
	}
	return corev1.Volume{}, "", false
}

// mountAt finds the deepest of c's mounts holding path (its mount point or below it) and
// where path is in the volume: "" or "/...", under the mount's subPath when it has one.
func mountAt(c *corev1.Container, path string) (corev1.VolumeMount, string, bool) {
	var best corev1.VolumeMount
	found := false
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/")
		if (path == m.MountPath || strings.HasPrefix(path, dir+"/")) && (!found || len(m.MountPath) > len(best.MountPath)) {
			best, found = m, true
		}
	}
	if !found {
		return best, "", false
	}
	rest := strings.TrimPrefix(path, strings.TrimSuffix(best.MountPath, "/"))
	if best.SubPath != "" {
		// The mount shows the volume's subPath there, not its root.
		rest = "/" + strings.Trim(best.SubPath, "/") + rest
	}
	return best, rest, true
}

// mapArg maps one argument (or the value of a --flag=value) from container paths to host
// paths: the image's binary, and the mount paths of c's volumes.
func (r *proxyRun) mapArg(c *corev1.Container, a string) string {
	if a == "/cloud-sql-proxy" {
		return r.bin
	}
	prefix, val := "", a
	if strings.HasPrefix(a, "--") {
		if i := strings.Index(a, "="); i > 0 {
			prefix, val = a[:i+1], a[i+1:]
		}
	}
	if m, rest, ok := mountAt(c, val); ok {
		if host, ok := r.mounts[m.Name]; ok {
			return prefix + host + rest
		}
	}
	return a
}

func (r *proxyRun) prove() error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	flags := argsOf(r.c)

	// The kubelet starts the postStart hook right after the container; start it first
	// so that returning early (before the proxy has started) cannot go unnoticed.
	var hook *process
	if l := r.c.Lifecycle; l != nil && l.PostStart != nil {
		if l.PostStart.Exec == nil {
			return fmt.Errorf("postStart hook is not exec: %+v", l.PostStart)
		}
		hc := make([]string, len(l.PostStart.Exec.Command))
		for i, a := range l.PostStart.Exec.Command {
			hc[i] = r.mapArg(r.c, a)
		}
		var err error
		hook, err = startProcess(r.t, hc, r.env, &syncBuffer{}, r.cred)
		if err != nil {
			return fmt.Errorf("postStart hook: %w", err)
		}
		if hook.waitExit(500 * time.Millisecond) {
			return fmt.Errorf("postStart hook %q returned (status %d) before the proxy was started: it does not wait\n%s", l.PostStart.Exec.Command, hook.exitCode(), hook.out.tail(10))
		}
	}

	proxy, err := startProcess(r.t, r.argv, r.env, r.log, r.cred)
	if err != nil {
		return err
	}
	started := time.Now()

	startup := r.c.StartupProbe
	if startup == nil {
		return errors.New("the container has no startup probe")
	}
	budget := time.Duration(startup.InitialDelaySeconds+startup.PeriodSeconds*startup.FailureThreshold) * time.Second
	if budget > 20*time.Second {
		budget = 20 * time.Second // the proxy starts in well under a second here
	}
	if err := r.waitStartup(ctx, proxy, startup, budget); err != nil {
		return err
	}

	var errs []error
	if hook != nil {
		if !hook.waitExit(10 * time.Second) {
			errs = append(errs, fmt.Errorf("postStart hook still running 10s after the proxy started\n%s", hook.out.tail(10)))
		} else {
			if code := hook.exitCode(); code != 0 {
				errs = append(errs, fmt.Errorf("postStart hook exited %d, want 0\n%s", code, hook.out.tail(10)))
			}
			if code, err := r.probe(startup); err != nil || code != http.StatusOK {
				errs = append(errs, fmt.Errorf("postStart hook returned but startup probe gives %d, %v", code, err))
			}
		}
	}

	for _, p := range []struct {
		name  string
		probe *corev1.Probe
	}{{"startup", startup}, {"liveness", r.c.LivenessProbe}, {"readiness", r.c.ReadinessProbe}} {
		if p.probe == nil {
			continue
		}
		if code, err := r.probe(p.probe); err != nil {
			errs = append(errs, fmt.Errorf("%s probe: %w", p.name, err))
		} else if code != http.StatusOK {
			errs = append(errs, fmt.Errorf("%s probe: status %d, want 200", p.name, code))
		}
	}
	if r.c.LivenessProbe == nil {
		errs = append(errs, errors.New("the container has no liveness probe"))
	}

	healthPort, _ := flags.value("http-port")
	if flags.has("prometheus") {
		body, code, err := httpGet("http://127.0.0.2:"+healthPort+"/metrics", 5*time.Second)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("prometheus metrics: %w", err))
		case code != http.StatusOK:
			errs = append(errs, fmt.Errorf("prometheus metrics: status %d, want 200", code))
		default:
			// Which metrics exist depends on what the proxy has done so far (and Cloud
			// Monitoring export, when on, drains them), so only the names are checked.
			if ns, ok := flags.value("prometheus-namespace"); ok {
				for _, line := range strings.Split(body, "\n") {
					if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, ns+"_") {
						errs = append(errs, fmt.Errorf("prometheus metric outside namespace %q: %.200s", ns, line))
						break
					}
				}
			}
		}
	}
	adminPort, hasAdmin := flags.value("admin-port")
	if flags.has("debug") {
		if !hasAdmin {
			adminPort = "9091"
		}
		if _, code, err := httpGet("http://localhost:"+adminPort+"/debug/pprof/", 5*time.Second); err != nil || code != http.StatusOK {
			errs = append(errs, fmt.Errorf("debug server: status %d, %v", code, err))
		}
	}

	errs = append(errs, r.checkListeners(flags)...)
	errs = append(errs, r.checkAdminAPIUse()...)

	switch r.ro.stop {
	case stopSIGTERM:
		if err := proxy.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, expectExit(proxy, exitBudget(flags), "after SIGTERM"))
	case stopQuitURL:
		u, err := r.quitURL(flags)
		if err != nil {
			errs = append(errs, err)
			break
		}
		// The proxy may exit before its answer is written (v2.25.3 does now and then):
		// an empty reply is as good as 200 if the proxy then exits 0, checked below.
		if _, code, err := httpGet(u, 5*time.Second); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) ||
			err == nil && code != http.StatusOK {
			errs = append(errs, fmt.Errorf("GET %s: status %d, %v", u, code, err))
		}
		errs = append(errs, expectExit(proxy, exitBudget(flags), "after GET "+u))
	case stopTimeout:
		t, err := wrapperTimeout(r.c)
		if err != nil {
			errs = append(errs, err)
			break
		}
		errs = append(errs, expectExit(proxy, t+exitBudget(flags), fmt.Sprintf("by its own %s timeout", t)))
		if took := time.Since(started); took < t-500*time.Millisecond {
			errs = append(errs, fmt.Errorf("the wrapper stopped after %s, before its %s timeout", took.Round(time.Millisecond), t))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown stop %q", r.ro.stop))
	}
	return errors.Join(errs...)
}

// waitStartup polls the startup probe as the kubelet would, only faster, until it
// answers 200 within the budget the probe allows.
func (r *proxyRun) waitStartup(ctx context.Context, proxy *process, startup *corev1.Probe, budget time.Duration) error {
	deadline := time.Now().Add(budget)
	var last string
	for {
		if proxy.exited() {
			return fmt.Errorf("the proxy exited with status %d before its startup probe answered 200", proxy.exitCode())
		}
		code, err := r.probe(startup)
		if err == nil && code == http.StatusOK {
			return nil
		}
		var nerr *net.OpError
		switch {
		case err != nil && !errors.As(err, &nerr):
			// A probe that cannot even be formed (an undeclared port) fails at once.
			return fmt.Errorf("startup probe: %w", err)
		case err == nil && code != http.StatusServiceUnavailable:
			return fmt.Errorf("startup probe: status %d, want 503 while starting and 200 once started", code)
		case err != nil:
			last = err.Error()
		default:
			last = "status " + strconv.Itoa(code)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("startup probe not 200 within the %s it allows (last: %s)", budget, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probe performs an httpGet probe of r.c: port resolved through the container's declared
// ports, sent to 127.0.0.2 as the stand-in for the pod IP.
func (r *proxyRun) probe(p *corev1.Probe) (int, error) {
	if p.HTTPGet == nil {
		return 0, fmt.Errorf("probe is not httpGet: %+v", p.ProbeHandler)
	}
	port, err := ContainerPort(r.c, p.HTTPGet.Port)
	if err != nil {
		return 0, err
	}
	host := p.HTTPGet.Host
	if host == "" {
		host = "127.0.0.2"
	}
	scheme := strings.ToLower(string(p.HTTPGet.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if timeout == 0 {
		timeout = time.Second
	}
	_, code, err := httpGet(fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(int(port))), p.HTTPGet.Path), timeout)
	return code, err
}

// checkListeners connects to every listener the arguments declare and to every address
// the applications are told about.
func (r *proxyRun) checkListeners(flags proxyFlags) []error {
	var errs []error
	addr, ok := flags.value("address")
	if !ok {
		addr = "127.0.0.1"
	}
	socketDir, unix := flags.value("unix-socket")
	for _, inst := range flags.instances {
		if unix {
			dir := r.mapArg(r.c, socketDir)
			path := filepath.Join(dir, inst.name)
			if !strings.Contains(inst.name, "mysql") {
				path = filepath.Join(path, ".s.PGSQL.5432")
			}
			errs = append(errs, dial("unix", path))
			continue
		}
		port, ok := inst.query["port"]
		if !ok {
			errs = append(errs, fmt.Errorf("instance %q has no explicit port: the proxy would ask the SQL Admin API at startup", inst.name))
			continue
		}
		errs = append(errs, dial("tcp", net.JoinHostPort(addr, port)))
		if addr == "127.0.0.1" {
			// The pod IP must not reach the database listener (facts.md).
			if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.2", port), time.Second); err == nil {
				c.Close()
				errs = append(errs, fmt.Errorf("listener of %s on 127.0.0.1:%s is also reachable on 127.0.0.2", inst.name, port))
			}
		}
	}
	for _, app := range r.apps() {
		get := func(name string) (string, bool) {
			for _, e := range app.Env {
				if e.Name == name {
					return e.Value, true
				}
			}
			return "", false
		}
		for _, ae := range r.ro.appEnv {
			if ae.Host != "" || ae.Port != "" {
				host, okH := get(ae.Host)
				port, okP := get(ae.Port)
				if !okH || !okP {
					errs = append(errs, fmt.Errorf("app container %q lacks %s or %s", app.Name, ae.Host, ae.Port))
					continue
				}
				errs = append(errs, dial("tcp", net.JoinHostPort(host, port)))
			}
			if ae.Socket != "" {
				sock, ok := get(ae.Socket)
				if !ok {
					errs = append(errs, fmt.Errorf("app container %q lacks %s", app.Name, ae.Socket))
					continue
				}
				p := r.mapArg(app, sock)
				if fi, err := os.Stat(p); err == nil && fi.IsDir() {
					p = filepath.Join(p, ".s.PGSQL.5432")
				}
				errs = append(errs, dial("unix", p))
			}
		}
	}
	return errs
}

// checkAdminAPIUse: when the SQL Admin API the proxy talks to is fakeAdminAPI (named by
// the container, as in the sqladmin-endpoint case, or added by the harness), the proxy
// must have resolved every instance the container names through it: it warms each
// instance's connection info at startup. This proves the endpoint flag and the instance
// names reach the binary as meant.
func (r *proxyRun) checkAdminAPIUse() []error {
	var endpoint string
	for _, a := range r.argv {
		if v, ok := strings.CutPrefix(a, "--sqladmin-api-endpoint="); ok {
			endpoint = v
		}
	}
	// With impersonation the proxy first trades its credentials at Google's IAM
	// Credentials API, which has no endpoint flag and so stays unreachable here.
	if endpoint != r.api.URL || argsOf(r.c).has("impersonate-service-account") {
		return nil
	}
	var errs []error
	deadline := time.Now().Add(5 * time.Second)
	for _, inst := range argsOf(r.c).instances {
		for r.api.callCount("connectSettings", inst.name) == 0 {
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("the proxy never asked the SQL Admin API at %s about %s", endpoint, inst.name))
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return errs
}

// apps are the containers that use the proxy: every regular container but the proxy, and
// the init containers after a native sidecar.
func (r *proxyRun) apps() []*corev1.Container {
	var out []*corev1.Container
	after := false
	for i := range r.spec.InitContainers {
		c := &r.spec.InitContainers[i]
		if c == r.c {
			after = true
			continue
		}
		if after {
			out = append(out, c)
		}
	}
	for i := range r.spec.Containers {
		if c := &r.spec.Containers[i]; c != r.c {
			out = append(out, c)
		}
	}
	return out
}

// quitURL is where a Job's application stops the proxy: the URL every application
// container is given (the same in all of them), else the admin server's.
func (r *proxyRun) quitURL(flags proxyFlags) (string, error) {
	var urls []string
	for _, app := range r.apps() {
		for _, e := range app.Env {
			if e.Name == cloudsqlproxy.QuitURLsEnv {
				urls = append(urls, e.Value)
			}
		}
	}
	if len(urls) > 0 {
		if len(urls) != len(r.apps()) {
			return "", fmt.Errorf("%s is set in %d of %d application containers", cloudsqlproxy.QuitURLsEnv, len(urls), len(r.apps()))
		}
		for _, u := range urls[1:] {
			if u != urls[0] {
				return "", fmt.Errorf("application containers disagree on %s: %q", cloudsqlproxy.QuitURLsEnv, urls)
			}
		}
		if _, err := url.Parse(urls[0]); err != nil {
			return "", err
		}
		return urls[0], nil
	}
	if r.ro.job {
		return "", errors.New("no quit URL: no application container gets " + cloudsqlproxy.QuitURLsEnv)
	}
	if p, ok := flags.value("admin-port"); ok && flags.has("quitquitquit") {
		return "http://localhost:" + p + "/quitquitquit", nil
	}
	return "", errors.New("no quit URL: no application gets " + cloudsqlproxy.QuitURLsEnv + " and --quitquitquit is off")
}

// wrapperTimeout reads the Job-mode wrapper's timeout: /bin/sh -c <script> <$0> <seconds>.
func wrapperTimeout(c *corev1.Container) (time.Duration, error) {
	if len(c.Command) < 5 || c.Command[0] != "/bin/sh" || c.Command[1] != "-c" {
		return 0, fmt.Errorf("command %q is not the Job-mode shell wrapper", c.Command)
	}
	s, err := strconv.Atoi(c.Command[4])
	if err != nil {
		return 0, fmt.Errorf("wrapper timeout %q: %v", c.Command[4], err)
	}
	return time.Duration(s) * time.Second, nil
}

// exitBudget is how long the proxy may take to exit once told to stop (SIGTERM, the quit
// URL, the Job wrapper's timeout): slack for a loaded machine, the delays its flags ask for (--min-sigterm-delay
// before closing, up to --max-sigterm-delay for open connections), and, when it exports
// traces, the upstream exporter's flush. On exit the proxy uploads its pending trace
// batches one at a time and the exporter allows each 12 s, retrying within them; with
// Cloud Trace unreachable, as here, each upload takes all 12 s (v2.25.3, measured: 12 s
// for one batch). A run this short leaves at most two: one in flight, one still open.
func exitBudget(f proxyFlags) time.Duration {
	const slack, traceUpload = 10 * time.Second, 12 * time.Second
	d := slack + durationFlag(f, "min-sigterm-delay") + durationFlag(f, "max-sigterm-delay")
	if f.has("telemetry-project") && !f.has("disable-traces") {
		d += 2 * traceUpload
	}
	return d
}

func expectExit(p *process, limit time.Duration, how string) error {
	if !p.waitExit(limit) {
		return fmt.Errorf("the proxy did not exit within %s %s\n%s", limit, how, hangReport(p))
	}
	if code := p.exitCode(); code != 0 {
		return fmt.Errorf("the proxy exited %s with status %d, want 0", how, code)
	}
	return nil
}

// hangReport says which process of a run that does not end is stuck, and where: each
// process of its group with its state and kernel wait channel, and for every Go process
// among them (the proxy, under a wrapper or not) the stack of its main goroutine, taken
// with SIGQUIT. A hang in CI is then diagnosable from its log alone. The goroutine dump
// is cut out of the run's output so the log tail still shows the proxy's own lines.
func hangReport(p *process) string {
	pgid := p.cmd.Process.Pid
	procs := groupProcesses(pgid)
	var b strings.Builder
	b.WriteString("--- its processes:\n")
	for _, pr := range procs {
		fmt.Fprintf(&b, "  pid %d (parent %d) state %s, waiting in %s: %.300q\n", pr.pid, pr.ppid, pr.state, pr.wchan, pr.argv)
	}
	mark := p.out.len()
	quit := 0
	for _, pr := range procs {
		if pr.goBinary && syscall.Kill(pr.pid, syscall.SIGQUIT) == nil {
			quit++
		}
	}
	if quit == 0 {
		return b.String()
	}
	// The runtime writes every stack and exits 2, and a wrapper then exits too: once the
	// run has ended (Wait has copied all output) the dump is whole. A wrapper that is
	// itself stuck gets 3 s.
	p.waitExit(3 * time.Second)
	dump := p.out.cut(mark)
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.HasPrefix(strings.TrimLeft(g, "\n"), "goroutine 1 ") {
			g = frameRegisters.ReplaceAllString(strings.TrimLeft(g, "\n"), "")
			b.WriteString("--- main goroutine (SIGQUIT):\n" + g + "\n")
		}
	}
	return b.String()
}

// frameRegisters are the fp/sp/pc words GOTRACEBACK=system-style dumps add to each frame.
var frameRegisters = regexp.MustCompile(` fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=0x[0-9a-f]+`)

type procInfo struct {
	pid, ppid int
	state     string
	wchan     string
	argv      []string
	goBinary  bool
}

// groupProcesses reads the processes of process group pgid from /proc.
func groupProcesses(pgid int) []procInfo {
	var procs []procInfo
	for _, p := range procstat.All() {
		if p.PGRP != pgid {
			continue
		}
		dir := filepath.Join("/proc", strconv.Itoa(p.PID))
		wchan, _ := os.ReadFile(filepath.Join(dir, "wchan"))
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		procs = append(procs, procInfo{
			pid: p.PID, ppid: p.PPID, state: p.State, wchan: string(wchan),
			argv:     strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"),
			goBinary: exe != "" && isGoBinary(exe),
		})
	}
	return procs
}

// isGoBinary reports whether the executable at path was built by Go (it carries build info).
func isGoBinary(path string) bool {
	_, err := buildinfo.ReadFile(path)
	return err == nil
}

func dial(network, addr string) error {
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		return fmt.Errorf("connect to listener: %w", err)
	}
	return c.Close()
}

func durationFlag(f proxyFlags, name string) time.Duration {
	v, _ := f.value(name)
	d, _ := time.ParseDuration(v)
	return d
}

func httpGet(u string, timeout time.Duration) (string, int, error) {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	resp, err := client.Get(u)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), resp.StatusCode, err
}

// proxyFlags are the proxy's flags and instances as a container passes them.
type proxyFlags struct {
	flags     map[string][]string
	instances []instanceArg
}

type instanceArg struct {
	name  string
	query map[string]string
}

func (f proxyFlags) has(name string) bool { _, ok := f.flags[name]; return ok }

func (f proxyFlags) value(name string) (string, bool) {
	v, ok := f.flags[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// argsOf parses what the container passes to the proxy binary: after "/cloud-sql-proxy"
// in command+args (so the Job wrapper's own positional parameters are skipped), every
// "--flag[=value]" is a flag and every other word an instance.
func argsOf(c *corev1.Container) proxyFlags {
	all := append(append([]string{}, c.Command...), c.Args...)
	start := 0
	for i, a := range all {
		if a == "/cloud-sql-proxy" {
			start = i + 1
			break
		}
	}
	f := proxyFlags{flags: map[string][]string{}}
	for _, a := range all[start:] {
		if strings.HasPrefix(a, "-") {
			name, val, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			f.flags[name] = append(f.flags[name], val)
			continue
		}
		name, q, _ := strings.Cut(a, "?")
		inst := instanceArg{name: name, query: map[string]string{}}
		if q != "" {
			vals, _ := url.ParseQuery(q)
			for k := range vals {
				inst.query[k] = vals.Get(k)
			}
		}
		f.instances = append(f.instances, inst)
	}
	return f
}

// process is a child process in its own process group, killed with its children when the
// test ends.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startProcess starts argv, as cred when it is not nil.
func startProcess(t *testing.T, argv, env []string, out *syncBuffer, cred *syscall.Credential) (*process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so cleanup reaches its children; and killed with the test
	// binary should that die (a panic or -timeout) before cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	// A container ends when its first process does, whatever its children still hold
	// open; without this, Wait would also wait for every inherited copy of the output
	// pipe (the Job wrapper's sleeping timer keeps one).
	cmd.WaitDelay = 200 * time.Millisecond
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %q: %w", argv, err)
	}
	p := &process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) waitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// exitCode is the exit status, or -1 for a process killed by a signal or still running.
func (p *process) exitCode() int {
	if !p.exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// cut removes and returns what was written after the first n bytes.
func (s *syncBuffer) cut(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rest := string(s.b.Bytes()[n:])
	s.b.Truncate(n)
	return rest
}

// tail is the last n lines, after the first 10 (where the proxy reports a bad flag before
// its usage text).
func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := strings.Split(strings.TrimRight(s.b.String(), "\n"), "\n")
	if len(lines) > n+10 {
		lines = append(append(lines[:10:10], "[...]"), lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
