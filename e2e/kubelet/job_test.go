package kubelet

import (
	"testing"
	"time"

	"github.com/podspec/cloudsqlproxy"
	corev1 "k8s.io/api/core/v1"
)

// jobPod is a pod that completes: restartPolicy Never and an application that dials
// through the proxy and exits 0 (or, with then=quit, stops the proxy first).
func jobPod(name, then string) *corev1.Pod {
	pod := basePod(name, app("app", "dial", dbAddr, "then="+then))
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	return pod
}

// requireCompleted waits for the pods to end and checks that they Succeeded, the app's
// first dial connected, and every container exited 0.
func requireCompleted(t *testing.T, names []string, proxy string) map[string]*corev1.Pod {
	t.Helper()
	n := theNode
	done := n.waitPods(t, names, 3*time.Minute, "pods completed", phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	for _, name := range names {
		p := done[name]
		if p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("pod %s: phase %s, want Succeeded\n%s\n%s", name, p.Status.Phase, describe(p), n.allLogs(name))
			continue
		}
		for _, c := range []string{proxy, "app"} {
			s := containerStatus(p, c)
			if s == nil || s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
				t.Errorf("pod %s: container %s did not exit 0: %s", name, c, describe(p))
			}
		}
		if l, ok := firstLine(n.logs(name, "app"), "DIAL"); !ok || l.text != "DIAL OK" {
			t.Errorf("pod %s: app's dial: %q", name, l.text)
		}
	}
	return done
}

// TestJobNativeSidecarCompletes: with the default native sidecar a pod that runs to
// completion Succeeds once the application exits: the kubelet stops the proxy, which
// exits 0 on SIGTERM.
func TestJobNativeSidecarCompletes(t *testing.T) {
	var names []string
	for i := 0; i < 3; i++ {
		pod := jobPod("job-native", "exit")
		attach(t, pod)
		names = append(names, theNode.runPod(t, pod))
	}
	requireCompleted(t, names, cloudsqlproxy.DefaultName)
	t.Logf("%d/%d native-sidecar job pods Succeeded, proxy exit 0", len(names), len(names))
}

// TestJobForJobQuitURL: ForJob(0) on a cluster without native sidecars; the application
// calls the quit URL it is given and the proxy exits 0.
func TestJobForJobQuitURL(t *testing.T) {
	var names []string
	for i := 0; i < 3; i++ {
		pod := jobPod("job-quit", "quit")
		attach(t, pod, cloudsqlproxy.ForJob(0))
		names = append(names, theNode.runPod(t, pod))
	}
	requireCompleted(t, names, cloudsqlproxy.DefaultName)
	for _, name := range names {
		if l, ok := firstLine(theNode.logs(name, "app"), "QUIT"); !ok {
			t.Errorf("pod %s: the app did not call the quit URL: %q", name, l.text)
		}
	}
}

// TestJobForJobTimeout: ForJob(5s) with an application that knows nothing of the proxy:
// the wrapper stops the proxy after the timeout, and exits with its status, 0.
func TestJobForJobTimeout(t *testing.T) {
	const timeout = 5 * time.Second
	var names []string
	for i := 0; i < 3; i++ {
		pod := jobPod("job-timeout", "exit")
		attach(t, pod, cloudsqlproxy.ForJob(timeout))
		if img := pod.Spec.Containers[0].Image; img != alpineImage {
			t.Fatalf("ForJob with a timeout runs %s, want %s", img, alpineImage)
		}
		names = append(names, theNode.runPod(t, pod))
	}
	done := requireCompleted(t, names, cloudsqlproxy.DefaultName)
	for name, p := range done {
		s := containerStatus(p, cloudsqlproxy.DefaultName)
		if s == nil || s.State.Terminated == nil {
			continue // reported by requireCompleted
		}
		// The API's times are whole seconds: allow one for rounding.
		if ran := s.State.Terminated.FinishedAt.Sub(s.State.Terminated.StartedAt.Time); ran < timeout-time.Second {
			t.Errorf("pod %s: proxy stopped after %v, before its %v timeout", name, ran, timeout)
		}
	}
}
