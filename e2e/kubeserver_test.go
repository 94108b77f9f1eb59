package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podspec/cloudsqlproxy"
)

// skipAPIServerEnv skips the real-server layer (CI never sets it).
const skipAPIServerEnv = "CLOUDSQLPROXY_E2E_SKIP_APISERVER"

// serverNamespace enforces Pod Security "restricted" at the latest version, and warns and
// audits at the same level so that workloads (whose templates Pod Security only warns
// about) report violations too.
const serverNamespace = "e2e-restricted"

// kubeServer is a real etcd and kube-apiserver on 127.0.0.1, started once for the test
// binary (free ports, temp dirs) and stopped by PID in TestMain.
type kubeServer struct {
	dir       string
	etcd      *exec.Cmd
	apiserver *exec.Cmd
	exited    map[*exec.Cmd]chan struct{}
	config    *rest.Config
	version   string // the server's gitVersion
	etcdVer   string
}

var (
	kubeOnce sync.Once
	kube     *kubeServer
	kubeErr  error
)

// sharedKubeServer starts the server on first use.
func sharedKubeServer(t *testing.T) *kubeServer {
	t.Helper()
	if os.Getenv(skipAPIServerEnv) == "1" {
		t.Skipf("%s=1: real kube-apiserver layer skipped", skipAPIServerEnv)
	}
	kubeOnce.Do(func() { kube, kubeErr = startKubeServer() })
	if kubeErr != nil {
		t.Fatalf("real kube-apiserver: %v", kubeErr)
	}
	return kube
}

func startKubeServer() (*kubeServer, error) {
	etcdBin, err := RealBinary(ComponentEtcd)
	if err != nil {
		return nil, err
	}
	apiBin, err := RealBinary(ComponentKubeAPIServer)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "csql-kube")
	if err != nil {
		return nil, err
	}
	k := &kubeServer{dir: dir, exited: map[*exec.Cmd]chan struct{}{}, etcdVer: etcdBin.Version}
	ok := false
	defer func() {
		if !ok {
			k.stop()
		}
	}()
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	k.etcd, err = k.start(etcdBin.Path, "etcd.log",
		"--name=e2e",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+client,
		"--advertise-client-urls="+client,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=e2e="+peer,
		"--listen-metrics-urls=",
		"--log-level=warn",
	)
	if err != nil {
		return nil, err
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	tokenBytes := make([]byte, 16)
	if _, err := rand.Read(tokenBytes); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(tokenBytes)
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(token + ",e2e-admin,e2e-admin,system:masters\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	k.apiserver, err = k.start(apiBin.Path, "kube-apiserver.log",
		"--etcd-servers="+client,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports[2]),
		// The default reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--enable-priority-and-fairness=false",
	)
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	if err := k.waitReady(host, token); err != nil {
		return nil, err
	}
	k.config = &rest.Config{
		Host:        host,
		BearerToken: token,
		// The server's self-signed serving certificate, written at startup.
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dir, "certs", "apiserver.crt")},
		QPS:             500,
		Burst:           1000,
	}
	if err := k.prepareNamespace(); err != nil {
		return nil, err
	}
	ok = true
	return k, nil
}

func (k *kubeServer) start(bin, logName string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(k.dir, logName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so cleanup reaches its children; and killed with the test
	// binary should that die (a panic or -timeout) before cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	done := make(chan struct{})
	k.exited[cmd] = done
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	return cmd, nil
}

// waitReady polls /readyz until it answers 200, and stops waiting if a process exits.
func (k *kubeServer) waitReady(host, token string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: insecureTLS(), // only until the serving certificate exists
	}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, c := range []*exec.Cmd{k.etcd, k.apiserver} {
			select {
			case <-k.exited[c]:
				return fmt.Errorf("%s exited during startup (%v):\n%s", filepath.Base(c.Path), c.ProcessState, k.logTail(c))
			default:
			}
		}
		req, _ := http.NewRequest(http.MethodGet, host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready within 60s:\n%s", k.logTail(k.apiserver))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (k *kubeServer) logTail(c *exec.Cmd) string {
	name := "etcd.log"
	if c == k.apiserver {
		name = "kube-apiserver.log"
	}
	data, _ := os.ReadFile(filepath.Join(k.dir, name))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// prepareNamespace creates the namespace with Pod Security "restricted" and its default
// ServiceAccount (no controller-manager runs here to create it, and admission rejects
// pods without it). It also records the server's version.
func (k *kubeServer) prepareNamespace() error {
	cs, err := kubernetes.NewForConfig(k.config)
	if err != nil {
		return err
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return err
	}
	k.version = v.GitVersion
	ctx := context.Background()
	labels := map[string]string{}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		labels["pod-security.kubernetes.io/"+mode] = "restricted"
		labels["pod-security.kubernetes.io/"+mode+"-version"] = "latest"
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: serverNamespace, Labels: labels},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err = cs.CoreV1().ServiceAccounts(serverNamespace).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
	}, metav1.CreateOptions{})
	return err
}

// stop ends both processes by PID: SIGINT, then SIGKILL after 10s.
func (k *kubeServer) stop() {
	for _, c := range []*exec.Cmd{k.apiserver, k.etcd} {
		if c == nil || c.Process == nil {
			continue
		}
		_ = c.Process.Signal(syscall.SIGINT)
		select {
		case <-k.exited[c]:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-k.exited[c]
		}
	}
	os.RemoveAll(k.dir)
}

// dryRunCreate sends obj to the server as a create with a server-side dry run and strict
// field validation, and returns the error and every warning.
func (k *kubeServer) dryRunCreate(obj runtime.Object) ([]string, error) {
	_, warns, err := k.dryRunCreated(obj)
	return warns, err
}

// dryRunCreated is dryRunCreate that also returns the object as the server
// would have stored it, after defaulting and mutating admission.
func (k *kubeServer) dryRunCreated(obj runtime.Object) (*unstructured.Unstructured, []string, error) {
	w := &warnings{}
	cfg := rest.CopyConfig(k.config)
	cfg.WarningHandler = w
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, nil, err
	}
	un := &unstructured.Unstructured{Object: u}
	gvk := un.GroupVersionKind()
	gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resourceOf(gvk.Kind)}
	if gvr.Resource == "" {
		return nil, nil, fmt.Errorf("no resource for %s", gvk)
	}
	out, err := dc.Resource(gvr).Namespace(serverNamespace).Create(context.Background(), un, metav1.CreateOptions{
		DryRun:          []string{metav1.DryRunAll},
		FieldValidation: metav1.FieldValidationStrict,
	})
	return out, w.list(), err
}

type warnings struct {
	mu   sync.Mutex
	text []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text = append(w.text, text)
}

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.text...)
}

// TestGeneratedWorkloadsOnRealAPIServer creates every generated workload on a real
// kube-apiserver (server-side dry run, strict field validation) in a namespace that
// enforces Pod Security "restricted": each must be accepted with zero warnings.
func TestGeneratedWorkloadsOnRealAPIServer(t *testing.T) {
	k := sharedKubeServer(t)
	t.Logf("kube-apiserver %s, etcd %s", k.version, k.etcdVer)
	if want := KubernetesVersion(); k.version != want {
		t.Errorf("the server reports %s, but this module pins k8s.io/kubernetes %s", k.version, want)
	}
	for _, w := range generatedWorkloads(t) {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			warns, err := k.dryRunCreate(w.obj)
			if err != nil {
				t.Errorf("kube-apiserver %s rejected it: %v", k.version, err)
			}
			for _, text := range warns {
				t.Errorf("kube-apiserver %s warning: %s", k.version, text)
			}
		})
	}
}

// TestBrokenShapesAreRejectedByRealAPIServer shows that this layer can fail: each broken
// shape draws the error or warning the brokenShapes table expects from the real server.
func TestBrokenShapesAreRejectedByRealAPIServer(t *testing.T) {
	k := sharedKubeServer(t)
	for _, b := range brokenShapes {
		t.Run(b.name, func(t *testing.T) {
			warns, err := k.dryRunCreate(brokenWorkload(t, b))
			var all []error
			if err != nil {
				all = append(all, err)
			}
			for _, w := range warns {
				all = append(all, errors.New("warning: "+w))
			}
			checkRejected(t, "real kube-apiserver", errors.Join(all...), b.wantServer)
		})
	}
}

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // readiness poll of our own loopback server only

// TestTokenDirIsReserved backs New's refusal of a socket directory at the
// service account token's: the real server's ServiceAccount admission gives
// every container the token mount, except a container that already mounts
// something at the token's path, which then silently has no token.
func TestTokenDirIsReserved(t *testing.T) {
	const tokenDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	if _, err := cloudsqlproxy.New(refusedInstance, cloudsqlproxy.WithUnixSocket(tokenDir)); !errors.Is(err, cloudsqlproxy.ErrInvalidConfig) {
		t.Errorf("New with the socket directory at the token's: %v, want ErrInvalidConfig", err)
	}
	k := sharedKubeServer(t)
	tokenMounted := func(t *testing.T, spec corev1.PodSpec) map[string]bool {
		t.Helper()
		out, warns, err := k.dryRunCreated(podNamed("token", spec))
		if err != nil || len(warns) > 0 {
			t.Fatalf("dry run: %v %v", err, warns)
		}
		var pod corev1.Pod
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(out.Object, &pod); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			for _, m := range c.VolumeMounts {
				if m.MountPath == tokenDir && strings.HasPrefix(m.Name, "kube-api-access-") {
					got[c.Name] = true
				}
			}
		}
		return got
	}

	spec := attached(t, appPodSpec(corev1.RestartPolicyAlways), cloudsqlproxy.WithUnixSocket("/cloudsql"))
	want := map[string]bool{"cloudsql-proxy": true, "migrate": true, "app": true}
	if got := tokenMounted(t, spec); !reflect.DeepEqual(got, want) {
		t.Errorf("with the sockets at /cloudsql, containers with the token: %v, want %v", got, want)
	}

	moveSocketDir(&spec, "/cloudsql", tokenDir)
	if got := tokenMounted(t, spec); len(got) != 0 {
		t.Errorf("with the sockets at the token's path, containers with the token: %v, want none", got)
	}
}
