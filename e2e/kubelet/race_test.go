package kubelet

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podspec/cloudsqlproxy"
	corev1 "k8s.io/api/core/v1"
)

// dialResult is what one fresh pod's first dial found, per container that dials.
type dialResult struct {
	pod    string
	ok     map[string]bool          // container -> first dial connected
	gap    map[string]time.Duration // container -> proxy ready line to its DIAL line
	ready  time.Time                // the proxy's ready line
	dial   map[string]time.Time     // container -> its DIAL line
	status *corev1.Pod
}

// measureDials starts count fresh pods made by build, a few at a time (fresh pods on a
// busy node are the seed's setting), and reads the first dial of each container in
// dialers, with the time from the proxy's ready line to it.
func measureDials(t *testing.T, count, batch int, proxy string, dialers []string, build func() *corev1.Pod) []dialResult {
	t.Helper()
	n := theNode
	var results []dialResult
	for start := 0; start < count; start += batch {
		var names []string
		for i := start; i < count && i < start+batch; i++ {
			names = append(names, n.runPod(t, build()))
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := dialResult{pod: name, ok: map[string]bool{}, gap: map[string]time.Duration{}, dial: map[string]time.Time{}}
				for _, c := range dialers {
					dial := n.waitLog(t, name, c, "DIAL ", 3*time.Minute)
					r.ok[c] = strings.Contains(dial.text, "DIAL OK")
					r.dial[c] = dial.at
					if ready, found := firstLine(n.logs(name, proxy), readyLine); found {
						r.gap[c] = dial.at.Sub(ready.at)
						r.ready = ready.at
					}
				}
				if pods, err := n.pods(); err == nil {
					r.status = pods[name]
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}()
		}
		wg.Wait()
		n.finish(t, names...)
	}
	return results
}

// requireNoRefusal fails for every container of every pod whose first dial did not connect,
// or whose proxy never logged that it was ready. The order of the two log lines is not
// checked: containerd stamps each container's lines as it reads them, and on a loaded
// machine it may read the application's pipe before the proxy's.
func requireNoRefusal(t *testing.T, results []dialResult, dialers []string) {
	t.Helper()
	for _, r := range results {
		for _, c := range dialers {
			if !r.ok[c] {
				t.Errorf("pod %s: %s's first dial did not connect\n%s", r.pod, c, theNode.allLogs(r.pod))
			}
			if _, found := r.gap[c]; !found {
				t.Errorf("pod %s: the proxy never logged %q\n%s", r.pod, readyLine, theNode.allLogs(r.pod))
			}
		}
	}
	t.Logf("%d/%d pods: first dial of %v connected, none refused", len(results), len(results), dialers)
}

// TestSeedRacePlainSidecar runs the pre-fix layout, a plain proxy container after the
// application's: the application dials before the proxy listens. The test must see
// refusals, or the harness could not see the race the library removes.
func TestSeedRacePlainSidecar(t *testing.T) {
	count := podCount()
	results := measureDials(t, count, 5, "cloud-sql-proxy", []string{"app"}, func() *corev1.Pod {
		pod := basePod("plain", app("app", "dial", dbAddr, "then=sleep"), handWritten())
		offline(&pod.Spec, "cloud-sql-proxy")
		return pod
	})
	refused := 0
	for _, r := range results {
		if !r.ok["app"] {
			refused++
		}
	}
	t.Logf("plain sidecar after the app: %d/%d first dials refused", refused, len(results))
	if refused == 0 {
		t.Fatalf("no refusal in %d pods of the pre-fix layout: the harness does not see the race", len(results))
	}
}

// TestSeedRaceNativeSidecar: the library's default native sidecar holds the application
// back until the proxy listens.
func TestSeedRaceNativeSidecar(t *testing.T) {
	results := measureDials(t, podCount(), 5, cloudsqlproxy.DefaultName, []string{"app"}, func() *corev1.Pod {
		pod := basePod("native", app("app", "dial", dbAddr, "then=sleep"))
		attach(t, pod)
		return pod
	})
	requireNoRefusal(t, results, []string{"app"})
	requireSidecar(t, results)
}

// requireSidecar checks, from the kubelet's own status, that the proxy ran as the seed's
// rollout plan says: under initContainers, restartPolicy Always, started, not restarted.
func requireSidecar(t *testing.T, results []dialResult) {
	t.Helper()
	for _, r := range results {
		if r.status == nil {
			t.Errorf("pod %s: no status", r.pod)
			continue
		}
		var found bool
		for i, c := range r.status.Spec.InitContainers {
			if c.Name != cloudsqlproxy.DefaultName {
				continue
			}
			found = i == 0 && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
		s := containerStatus(r.status, cloudsqlproxy.DefaultName)
		if !found || s == nil || s.Started == nil || !*s.Started || s.RestartCount != 0 {
			t.Errorf("pod %s: proxy is not a started, never restarted first init container with restartPolicy Always: %s", r.pod, describe(r.status))
		}
	}
}

// TestSeedRaceMigrationInitContainer: an init container placed after the proxy (a
// database migration) reaches the database too, and so does the application after it.
func TestSeedRaceMigrationInitContainer(t *testing.T) {
	dialers := []string{"migrate", "app"}
	results := measureDials(t, podCount(), 5, cloudsqlproxy.DefaultName, dialers, func() *corev1.Pod {
		pod := basePod("migrate", app("app", "dial", dbAddr, "then=sleep"))
		pod.Spec.InitContainers = []corev1.Container{app("migrate", "dial", dbAddr, "then=exit")}
		attach(t, pod)
		return pod
	})
	requireNoRefusal(t, results, dialers)
	requireSidecar(t, results)
}

// TestSeedRaceLegacySidecar: WithLegacySidecar's postStart wait hook holds the
// application back on clusters without native sidecars.
func TestSeedRaceLegacySidecar(t *testing.T) {
	results := measureDials(t, podCount(), 5, cloudsqlproxy.DefaultName, []string{"app"}, func() *corev1.Pod {
		pod := basePod("legacy", app("app", "dial", dbAddr, "then=sleep"))
		attach(t, pod, cloudsqlproxy.WithLegacySidecar())
		return pod
	})
	requireNoRefusal(t, results, []string{"app"})
}

// TestSeedRaceAdoptedSidecar is the migration end to end: the plain sidecar of
// TestSeedRacePlainSidecar, read by FromContainer and attached again, runs as a native
// sidecar in its place and the race is gone.
func TestSeedRaceAdoptedSidecar(t *testing.T) {
	results := measureDials(t, podCount(), 5, "cloud-sql-proxy", []string{"app"}, func() *corev1.Pod {
		pod := basePod("adopted", app("app", "dial", dbAddr, "then=sleep"), handWritten())
		insts, opts, err := cloudsqlproxy.FromContainer(pod.Spec.Containers[1], pod.Spec.Volumes)
		if err != nil {
			t.Fatal(err)
		}
		p, err := cloudsqlproxy.New(insts[0], opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Attach(&pod.Spec); err != nil {
			t.Fatal(err)
		}
		if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Name != "cloud-sql-proxy" {
			t.Fatalf("adopted pod: want the proxy moved to the first init container, got %+v", pod.Spec)
		}
		offline(&pod.Spec, p.Name())
		return pod
	})
	requireNoRefusal(t, results, []string{"app"})
}
