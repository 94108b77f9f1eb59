package kubelet

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/e2e"
)

const (
	// enableEnv turns the tier on. Off, the package reports that and passes, so that
	// `go test ./...` in the module stays usable as any user; .ci/run always sets it.
	enableEnv = "CLOUDSQLPROXY_E2E_KUBELET"
	// nodeEnv carries the running node from the guard process to the test process.
	nodeEnv = "CLOUDSQLPROXY_E2E_KUBELET_NODE"
	// keepLogsEnv names a directory that receives the daemons' logs before the teardown.
	keepLogsEnv = "CLOUDSQLPROXY_E2E_KUBELET_KEEP_LOGS"
)

// theNode is the node every test runs its pods on, set in the test process.
var theNode *node

// nodeInfo is what the test process needs of a node the guard process started.
type nodeInfo struct {
	Dir, Sock, Manifests, PodLogs, ROURL, SecureURL string
}

// TestMain runs as two processes. The guard (the process go test starts) sets up the node,
// runs the tests in a child copy of itself, and tears the node down whatever the child did:
// passed, failed, panicked, or was killed by -timeout. A signal to the guard is passed to
// the child and still ends in the teardown. Only the child runs the tests.
func TestMain(m *testing.M) {
	if v := os.Getenv(nodeEnv); v != "" {
		var info nodeInfo
		if err := json.Unmarshal([]byte(v), &info); err != nil {
			fmt.Fprintln(os.Stderr, "kubelet tier:", err)
			os.Exit(1)
		}
		theNode = &node{dir: info.Dir, sock: info.Sock, manifests: info.Manifests,
			podLogs: info.PodLogs, roURL: info.ROURL, secureURL: info.SecureURL}
		if err := theNode.criConnect(); err != nil {
			fmt.Fprintln(os.Stderr, "kubelet tier:", err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	flag.Parse()
	if os.Getenv(enableEnv) != "1" {
		fmt.Printf("kubelet tier not run: set %s=1 (needs root; .ci/run sets it)\n", enableEnv)
		os.Exit(0)
	}
	os.Exit(guard())
}

func guard() int {
	// First, so that a machine without root or a bridge fails with that, not a build error.
	if err := checkHost(); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet tier: cannot run here:", err)
		return 1
	}
	images, kubelet, err := prepare()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet tier: cannot run here:", err)
		return 1
	}
	n, err := startNode(kubelet, images)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet tier: cannot start the node:", err)
		return 1
	}
	code := runChild(n)
	if dst := os.Getenv(keepLogsEnv); dst != "" {
		for _, name := range []string{"kubelet.log", "containerd.log"} {
			if b, err := os.ReadFile(filepath.Join(n.dir, name)); err == nil {
				_ = os.WriteFile(filepath.Join(dst, name), b, 0o644)
			}
		}
	}
	if err := n.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet tier: teardown left the host changed:", err)
		return 1
	}
	return code
}

func runChild(n *node) int {
	info, _ := json.Marshal(nodeInfo{Dir: n.dir, Sock: n.sock, Manifests: n.manifests,
		PodLogs: n.podLogs, ROURL: n.roURL, SecureURL: n.secureURL})
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), nodeEnv+"="+string(info))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet tier:", err)
		return 1
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sig:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	if err != nil {
		if code := cmd.ProcessState.ExitCode(); code > 0 {
			return code
		}
		return 1
	}
	return 0
}

// Image names. The proxy's are the library's defaults, so generated pods run unchanged.
const (
	appImage    = "e2e.local/testapp:1"
	proxyImage  = cloudsqlproxy.DefaultImage
	alpineImage = cloudsqlproxy.DefaultImage + "-alpine"
)

// prepare builds (or finds in the cache) the real proxy and kubelet, builds the test app,
// and lays out the images.
func prepare() ([]image, string, error) {
	proxy, err := e2e.RealBinary(e2e.ComponentProxy)
	if err != nil {
		return nil, "", err
	}
	if proxy.Version != "v"+cloudsqlproxy.DefaultVersion {
		return nil, "", fmt.Errorf("proxy built at %s, the library defaults to %s", proxy.Version, cloudsqlproxy.DefaultVersion)
	}
	kubelet, err := e2e.RealBinary(e2e.ComponentKubelet)
	if err != nil {
		return nil, "", err
	}
	images, err := buildImages(proxy.Path)
	return images, kubelet.Path, err
}

func buildImages(proxyPath string) ([]image, error) {
	app, err := buildApp()
	if err != nil {
		return nil, err
	}
	proxyBin, err := hostFile(proxyPath, 0o755)
	if err != nil {
		return nil, err
	}
	proxyBin.name = "cloud-sql-proxy"
	// The cached proxy is built with the toolchain's default cgo setting, which links libc
	// for the resolver; its libraries go into the image beside it (the release image's
	// binary is static, and nothing here resolves names).
	proxyLibs, err := withLibs(proxyPath)
	if err != nil {
		return nil, err
	}
	// /tmp as in the distroless image; the alpine variant adds a shell for the Job wrapper
	// (Debian's busybox, with its libraries, standing in for Alpine's).
	tmp := imageFile{name: "tmp", mode: 0o1777, dir: true}
	shell, err := withLibs("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox (apt-get install busybox): %w", err)
	}
	bb, err := hostFile("/bin/busybox", 0o755)
	if err != nil {
		return nil, err
	}
	shell = append(shell, bb)
	for _, applet := range []string{"sh", "sleep", "kill"} {
		shell = append(shell, imageFile{name: "bin/" + applet, mode: 0o777, link: "busybox"})
	}
	appFile := imageFile{name: "testapp", mode: 0o755, data: app}
	return []image{
		{tag: pauseImage, entrypoint: []string{"/testapp", "pause"}, user: "65535", files: []imageFile{appFile}},
		{tag: appImage, entrypoint: []string{"/testapp"}, user: "65532", files: []imageFile{appFile, tmp}},
		{tag: proxyImage, entrypoint: []string{"/cloud-sql-proxy"}, user: "65532", files: append([]imageFile{proxyBin, tmp}, proxyLibs...)},
		{tag: alpineImage, entrypoint: []string{"/cloud-sql-proxy"}, user: "65532", files: append(append([]imageFile{proxyBin, tmp}, proxyLibs...), shell...)},
	}, nil
}

// buildApp builds testapp as a static binary: the images have no libc.
func buildApp() ([]byte, error) {
	dir, err := os.MkdirTemp("", "csqlk-app-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "testapp")
	cmd := exec.Command("go", "build", "-o", out, "./testapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building testapp: %v\n%s", err, strings.TrimSpace(string(b)))
	}
	return os.ReadFile(out)
}
