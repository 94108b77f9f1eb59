package kubelet

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var podSeq atomic.Int64

// runPod writes pod as a static pod manifest under a fresh name and returns the name the
// kubelet gives it ("<name>-<node>"). The file is written beside the directory and
// renamed into it: the kubelet reads the directory every second and would log a
// half-written file as unparsable.
func (n *node) runPod(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	pod.Name = fmt.Sprintf("%s-%d", pod.Name, podSeq.Add(1))
	pod.Namespace = "default"
	pod.APIVersion, pod.Kind = "v1", "Pod"
	b, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(n.dir, pod.Name+".json")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(n.manifests, pod.Name+".json")); err != nil {
		t.Fatal(err)
	}
	full := pod.Name + "-" + nodeName
	t.Cleanup(func() { n.deletePod(full) })
	return full
}

// deletePod deletes a static pod the way its owner would: by removing its manifest.
func (n *node) deletePod(full string) {
	os.Remove(filepath.Join(n.manifests, strings.TrimSuffix(full, "-"+nodeName)+".json"))
}

// pods reads the kubelet's read-only /pods: the live status of its static pods.
func (n *node) pods() (map[string]*corev1.Pod, error) {
	resp, err := http.Get(n.roURL + "/pods")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var list corev1.PodList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	m := map[string]*corev1.Pod{}
	for i := range list.Items {
		m[list.Items[i].Name] = &list.Items[i]
	}
	return m, nil
}

// waitPods polls /pods until done holds for every named pod, reporting the pods' last
// statuses and logs when timeout passes first. The timeout is generous (CI shares two
// cores with builds); what the tests assert about the pods is strict.
func (n *node) waitPods(t *testing.T, names []string, timeout time.Duration, what string, done func(*corev1.Pod) bool) map[string]*corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pods, err := n.pods()
		if err == nil {
			got := map[string]*corev1.Pod{}
			for _, name := range names {
				if p, ok := pods[name]; ok && done(p) {
					got[name] = p
				}
			}
			if len(got) == len(names) {
				return got
			}
		}
		if time.Now().After(deadline) {
			for _, name := range names {
				t.Logf("pod %s: %s", name, describe(pods[name]))
				t.Logf("logs of %s:\n%s", name, n.allLogs(name))
			}
			t.Fatalf("%s: not reached within %v (kubelet log tail:\n%s)", what, timeout, n.logTail("kubelet", 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "not listed by the kubelet"
	}
	b, _ := json.Marshal(p.Status)
	return string(b)
}

func phaseIs(phases ...corev1.PodPhase) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		for _, ph := range phases {
			if p.Status.Phase == ph {
				return true
			}
		}
		return false
	}
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// logLine is one line of a CRI container log file: the time containerd read it and the
// text. Both the proxy's and the application's lines get their time from the same clock.
type logLine struct {
	at   time.Time
	text string
}

// logs reads the first run's (restart 0) log file of one container of a pod.
func (n *node) logs(pod, container string) []logLine {
	files, _ := filepath.Glob(filepath.Join(n.podLogs, "default_"+pod+"_*", container, "0.log"))
	if len(files) == 0 {
		return nil
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return nil
	}
	var lines []logLine
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, " ", 4) // time stream tag text
		if len(f) < 4 {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			continue
		}
		lines = append(lines, logLine{at: at, text: f[3]})
	}
	return lines
}

// allLogs is every container's log of a pod, for failure reports.
func (n *node) allLogs(pod string) string {
	dirs, _ := filepath.Glob(filepath.Join(n.podLogs, "default_"+pod+"_*", "*"))
	sort.Strings(dirs)
	var b strings.Builder
	for _, d := range dirs {
		data, _ := os.ReadFile(filepath.Join(d, "0.log"))
		fmt.Fprintf(&b, "--- %s\n%s", filepath.Base(d), data)
	}
	return b.String()
}

// firstLine returns the first line of a container's log that contains s.
func firstLine(lines []logLine, s string) (logLine, bool) {
	for _, l := range lines {
		if strings.Contains(l.text, s) {
			return l, true
		}
	}
	return logLine{}, false
}

// logKeeper copies log lines while a test waits, since the kubelet removes a deleted
// pod's logs with its containers.
type logKeeper struct {
	mu   sync.Mutex
	seen map[string][]logLine
}

func (k *logKeeper) update(n *node, pod string, containers ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seen == nil {
		k.seen = map[string][]logLine{}
	}
	for _, c := range containers {
		if l := n.logs(pod, c); len(l) > len(k.seen[c]) {
			k.seen[c] = l
		}
	}
}

func (k *logKeeper) get(c string) []logLine {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.seen[c]
}

// probeMetrics reads the kubelet's prober_probe_total counters for one pod:
// "<container> <probe type> <result>" -> count.
func (n *node) probeMetrics(pod string) (map[string]float64, error) {
	resp, err := insecureClient().Get(n.secureURL + "/metrics/probes")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics/probes: %s", resp.Status)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "prober_probe_total{") || !strings.Contains(line, `pod="`+pod+`"`) {
			continue
		}
		labels := map[string]string{}
		inner := line[strings.Index(line, "{")+1 : strings.LastIndex(line, "}")]
		for _, kv := range strings.Split(inner, ",") {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = strings.Trim(v, `"`)
		}
		var val float64
		fmt.Sscan(strings.TrimSpace(line[strings.LastIndex(line, "}")+1:]), &val)
		m[labels["container"]+" "+labels["probe_type"]+" "+labels["result"]] += val
	}
	return m, nil
}

// basePod is a pod with the test's application containers and nothing of the proxy yet.
func basePod(name string, apps ...corev1.Container) *corev1.Pod {
	grace := int64(20)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers:                    apps,
			DNSPolicy:                     corev1.DNSDefault,
			EnableServiceLinks:            new(bool),
			TerminationGracePeriodSeconds: &grace,
		},
	}
}
