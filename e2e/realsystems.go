package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// The real systems the tier runs. Each is built from source by build-real-systems.sh into
// a cache directory keyed on its version, so a version bump can never run a stale binary.
const (
	ComponentProxy         = "proxy"
	ComponentEtcd          = "etcd"
	ComponentKubeAPIServer = "kube-apiserver"
	ComponentKubelet       = "kubelet"
)

// CacheEnv overrides the cache root (default $HOME/.cache/cloudsqlproxy-e2e).
const CacheEnv = "CLOUDSQLPROXY_E2E_CACHE"

// Built is one real binary and the version it was built at.
type Built struct {
	Component string // ComponentProxy, ComponentEtcd, ComponentKubeAPIServer or ComponentKubelet
	Version   string // as the module proxy names it, e.g. "v2.25.3"
	Path      string // the executable, inside the cache
}

var (
	builtMu sync.Mutex
	built   = map[string]Built{}
)

// RealBinary returns the cached binary of component (ComponentProxy, ComponentEtcd,
// ComponentKubeAPIServer or ComponentKubelet), building it first when the cache lacks it. The proxy is built at
// the version the library defaults to (or $CLOUDSQLPROXY_E2E_PROXY_VERSION); etcd,
// kube-apiserver and the kubelet at the versions this module's go.mod pins. It runs build-real-systems.sh so there is one recipe for the
// developer's shell, CI and the tests.
func RealBinary(component string) (Built, error) {
	builtMu.Lock()
	defer builtMu.Unlock()
	if b, ok := built[component]; ok {
		return b, nil
	}
	b, err := build(component, "")
	if err != nil {
		return Built{}, err
	}
	built[component] = b
	return b, nil
}

// RealProxyAt returns the cached proxy binary of release version (such as "2.26.3"),
// building it first when the cache lacks it: the gating tests run a release older than the
// library's default.
func RealProxyAt(version string) (Built, error) {
	b, err := build(ComponentProxy, version)
	if err == nil && b.Version != "v"+strings.TrimPrefix(version, "v") {
		err = fmt.Errorf("building proxy %s: built %s", version, b.Version)
	}
	return b, err
}

// build runs build-real-systems.sh for component (the proxy at proxyVersion when not "")
// and returns the binary its last line names: "<component> <version> <path> <built|cached>
// <secs>".
func build(component, proxyVersion string) (Built, error) {
	dir, err := moduleDir()
	if err != nil {
		return Built{}, err
	}
	cmd := exec.Command("bash", filepath.Join(dir, "build-real-systems.sh"), component)
	cmd.Dir = dir
	if proxyVersion != "" {
		cmd.Env = append(os.Environ(), "CLOUDSQLPROXY_E2E_PROXY_VERSION="+proxyVersion)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Built{}, fmt.Errorf("building %s: %v\n%s%s", component, err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) != 5 || f[0] != component {
		return Built{}, fmt.Errorf("building %s: unexpected output %q", component, stdout.String())
	}
	b := Built{Component: component, Version: f[1], Path: f[2]}
	if _, err := os.Stat(b.Path); err != nil {
		return Built{}, fmt.Errorf("building %s: %v", component, err)
	}
	return b, nil
}

// moduleDir is this module's directory, found from the source file so that callers in
// other directories (tests of other packages, tools) still find the build script.
func moduleDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the e2e module directory")
	}
	return filepath.Dir(file), nil
}

// FreePorts asks the kernel for n distinct free ports on 127.0.0.1, for the daemons the
// tiers start (etcd, kube-apiserver, containerd, kubelet).
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
