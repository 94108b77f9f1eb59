package kubelet

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/podspec/cloudsqlproxy/e2e"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const pauseImage = "e2e.local/pause:1"

// containerd's CRI configuration (v2 format). restrict_oom_score_adj: these VMs withhold
// CAP_SYS_RESOURCE, and without it runc cannot raise a container's oom_score_adj, which
// fails every sandbox ("can't get final child's PID from pipe: EOF"). SystemdCgroup off:
// there is no systemd here. The opt and CNI directories are our own so nothing lands in
// /opt or /etc.
const containerdConfig = `version = 2
root = "{{dir}}/containerd/root"
state = "{{dir}}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{{sock}}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{{dir}}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "` + pauseImage + `"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{{dir}}/cni"
`

// One bridge, the gateway address on the node's side so that the kubelet reaches pod IPs,
// no routes beyond the subnet and no masquerading. containerd adds the loopback plugin.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "csql-e2e",
  "plugins": [{
    "type": "bridge",
    "bridge": "` + bridgeName + `",
    "isGateway": true,
    "isDefaultGateway": false,
    "ipMasq": false,
    "hairpinMode": false,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "` + podSubnet + `"}]], "dataDir": "{{dir}}/cni-ipam"}
  }]
}
`

func (n *node) fill(s string) string {
	return strings.NewReplacer("{{dir}}", n.dir, "{{sock}}", n.sock).Replace(s)
}

func (n *node) startContainerd() error {
	n.sock = filepath.Join(n.dir, "containerd.sock")
	if err := os.MkdirAll(filepath.Join(n.dir, "cni"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.dir, "cni", "10-csql-e2e.conflist"), []byte(n.fill(cniConfig)), 0o644); err != nil {
		return err
	}
	cfg := filepath.Join(n.dir, "containerd.toml")
	if err := os.WriteFile(cfg, []byte(n.fill(containerdConfig)), 0o644); err != nil {
		return err
	}
	// Pushed before the daemon: undone after it stops, whatever was left of its
	// containers' processes and mounts.
	n.push(func() error { unmountUnder(filepath.Join(n.dir, "containerd")); return nil })
	n.push(n.killShims)
	cmd, err := n.daemon("containerd", "containerd", "--config", cfg, "--log-level", "warn")
	if err != nil {
		return err
	}
	// Connecting before the socket exists makes gRPC log every failed attempt.
	if err := waitFor(30*time.Second, cmd, "containerd's socket", func() error {
		_, err := os.Stat(n.sock)
		return err
	}); err != nil {
		return fmt.Errorf("%w\n%s", err, n.logTail("containerd", 10))
	}
	if err := n.criConnect(); err != nil {
		return err
	}
	return waitFor(30*time.Second, cmd, "containerd", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := n.cri.Version(ctx, &runtimeapi.VersionRequest{})
		if err != nil {
			return fmt.Errorf("%v\n%s", err, n.logTail("containerd", 10))
		}
		return nil
	})
}

// The kubelet runs standalone: static pods from a directory, no API server. failCgroupV1
// off (these machines are cgroup v1), cgroupfs (containerd 1.6 lacks the CRI call that
// reports its driver), its servers on loopback, anonymous and AlwaysAllow so the test
// reads /pods and /metrics/probes, eviction relaxed so a busy CI disk does not evict
// the test's pods, and image GC off so the imported images stay.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://{{sock}}
staticPodPath: {{dir}}/manifests
fileCheckFrequency: 1s
podLogsDir: {{dir}}/pod-logs
volumePluginDir: {{dir}}/volume-plugins
address: 127.0.0.1
port: {{port}}
readOnlyPort: {{roport}}
healthzBindAddress: 127.0.0.1
healthzPort: {{hport}}
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
`

func (n *node) startKubelet(bin string) error {
	ports, err := e2e.FreePorts(3)
	if err != nil {
		return err
	}
	n.manifests = filepath.Join(n.dir, "manifests")
	n.podLogs = filepath.Join(n.dir, "pod-logs")
	for _, d := range []string{n.manifests, n.podLogs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	cfg := strings.NewReplacer("{{port}}", fmt.Sprint(ports[0]), "{{roport}}", fmt.Sprint(ports[1]),
		"{{hport}}", fmt.Sprint(ports[2])).Replace(n.fill(kubeletConfig))
	cfgPath := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	n.roURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	n.secureURL = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	// Pushed before the daemon, so undone after it has stopped: the pods' sandboxes, with
	// their network namespaces, go once nothing would recreate them.
	n.push(n.removeSandboxes)
	cmd, err := n.daemon("kubelet", bin, "--config", cfgPath,
		"--root-dir", filepath.Join(n.dir, "kubelet"), "--cert-dir", filepath.Join(n.dir, "kubelet-pki"),
		"--hostname-override", nodeName, "--v", verbosity())
	if err != nil {
		return err
	}
	// Deleting the manifests first lets the kubelet stop the pods gracefully, as it would.
	n.push(n.deleteAllPods)
	err = waitFor(60*time.Second, cmd, "kubelet", func() error {
		return httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[2]))
	})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, n.logTail("kubelet", 30))
	}
	// The probe workers of pods added in the kubelet's first probe period start at a
	// random point of it; wait it out so every pod's probes start as they do on a node
	// that has been up for a while.
	time.Sleep(1500 * time.Millisecond)
	return nil
}

// verbosity is the kubelet's log level: 3 logs every probe result and pod sync, which the
// failure reports show; CLOUDSQLPROXY_E2E_KUBELET_V raises it to study the kubelet.
func verbosity() string {
	if v := os.Getenv("CLOUDSQLPROXY_E2E_KUBELET_V"); v != "" {
		return v
	}
	return "3"
}

func (n *node) deleteAllPods() error {
	for _, f := range listDir(n.manifests) {
		os.Remove(filepath.Join(n.manifests, f))
	}
	return waitFor(60*time.Second, nil, "pods to stop", func() error {
		pods, err := n.pods()
		if err != nil {
			return nil // the kubelet is gone; the sandboxes go through CRI
		}
		if len(pods) > 0 {
			return fmt.Errorf("%d pods left", len(pods))
		}
		return nil
	})
}

func insecureClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // our own kubelet on loopback
	}}
}
