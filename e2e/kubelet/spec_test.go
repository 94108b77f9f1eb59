package kubelet

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podspec/cloudsqlproxy"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	instance = "my-project:us-central1:db"
	dbAddr   = "127.0.0.1:5432"
	// backendAPI is the fake SQL Admin API the backend container serves in the pod.
	backendAPI = "http://127.0.0.1:8080/"
	// readyLine is what the proxy logs once every listener accepts, the moment its
	// /startup turns 200.
	readyLine   = "ready for new connections"
	sigtermLine = "SIGTERM signal received"
)

// podCount is how many fresh pods each race and latency measurement starts.
func podCount() int {
	if v, err := strconv.Atoi(os.Getenv("CLOUDSQLPROXY_E2E_KUBELET_PODS")); err == nil && v > 0 {
		return v
	}
	return 10
}

func restricted(uid int64) *corev1.SecurityContext {
	no, yes := false, true
	return &corev1.SecurityContext{
		RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: &yes,
		AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// app is a container of the test application.
func app(name string, args ...string) corev1.Container {
	return corev1.Container{Name: name, Image: appImage, ImagePullPolicy: corev1.PullNever,
		Args: args, SecurityContext: restricted(65532)}
}

// backendSidecar plays Google's side of a connection inside the pod. It goes first among
// the init containers, before the proxy, so that it starts before it and stops after it.
func backendSidecar() corev1.Container {
	c := app("backend", "backend")
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

// handWritten is a plain proxy sidecar as users wrote them before native sidecars
// (upstream's old examples): a regular container, no probes, no hooks.
func handWritten() corev1.Container {
	return corev1.Container{
		Name:            "cloud-sql-proxy",
		Image:           proxyImage,
		Args:            []string{"--structured-logs", "--port=5432", instance},
		SecurityContext: restricted(65532),
	}
}

// offline is the one change the tier makes to the library's containers: credentials
// and Google's endpoints the proxy cannot reach from here. --token through its
// environment variable, since the library has no option for a static token; whatever
// else the proxy would send to Google goes to closed loopback ports.
func offline(spec *corev1.PodSpec, name string) {
	env := []corev1.EnvVar{
		{Name: "CSQL_PROXY_TOKEN", Value: "test"},
		{Name: "HTTPS_PROXY", Value: "http://127.0.0.1:1"},
		{Name: "GCE_METADATA_HOST", Value: "127.0.0.1:1"},
	}
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				list[i].Env = append(list[i].Env, env...)
				return
			}
		}
	}
	panic("no container " + name)
}

// attach adds the proxy the library builds for opts and makes it run offline.
func attach(t *testing.T, pod *corev1.Pod, opts ...cloudsqlproxy.Option) *cloudsqlproxy.Proxy {
	t.Helper()
	p, err := cloudsqlproxy.New(instance, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Attach(&pod.Spec); err != nil {
		t.Fatal(err)
	}
	offline(&pod.Spec, p.Name())
	return p
}

// waitLog polls a container's log until a line contains s.
func (n *node) waitLog(t *testing.T, pod, container, s string, timeout time.Duration) logLine {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l, ok := firstLine(n.logs(pod, container), s); ok {
			return l
		}
		if time.Now().After(deadline) {
			pods, _ := n.pods()
			t.Fatalf("pod %s: no %q from %s within %v\nstatus: %s\nlogs:\n%s", pod, s, container, timeout,
				describe(pods[pod]), n.allLogs(pod))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// finish deletes pods and waits until the kubelet has removed them, so that the next
// measurement does not share the CPU with their teardown.
func (n *node) finish(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		n.deletePod(name)
	}
	err := waitFor(120*time.Second, nil, "pods to go", func() error {
		pods, err := n.pods()
		if err != nil {
			return err
		}
		for _, name := range names {
			if _, ok := pods[name]; ok {
				return fmt.Errorf("%s still listed", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// criContainer is what CRI reports of one container, with nanosecond times.
type criContainer struct {
	name              string
	exitCode          int32
	started, finished time.Time
	state             runtimeapi.ContainerState
}

// criContainers lists the containers of a pod through CRI: they outlive the pod's entry in
// /pods for a while after a deletion, with exit codes and exact times.
func (n *node) criContainers(pod string) (map[string]criContainer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := n.cri.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.name": pod}}})
	if err != nil {
		return nil, err
	}
	m := map[string]criContainer{}
	for _, c := range list.Containers {
		st, err := n.cri.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil || st.Status == nil {
			continue
		}
		s := st.Status
		cc := criContainer{name: s.Metadata.Name, exitCode: s.ExitCode, state: s.State}
		if s.StartedAt > 0 {
			cc.started = time.Unix(0, s.StartedAt)
		}
		if s.FinishedAt > 0 {
			cc.finished = time.Unix(0, s.FinishedAt)
		}
		if prev, ok := m[cc.name]; !ok || cc.started.After(prev.started) {
			m[cc.name] = cc
		}
	}
	return m, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}

func summary(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%.2f", d.Seconds()))
	}
	return fmt.Sprintf("p50 %.2f s, p95 %.2f s (n=%d: %s)", percentile(ds, 0.5).Seconds(),
		percentile(ds, 0.95).Seconds(), len(ds), strings.Join(parts, " "))
}
