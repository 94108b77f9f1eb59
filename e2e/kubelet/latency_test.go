package kubelet

import (
	"fmt"
	"testing"
	"time"

	"github.com/podspec/cloudsqlproxy"
	corev1 "k8s.io/api/core/v1"
)

// A gate is one way of holding the application back until the proxy listens.
type gate struct {
	name  string
	build func(t *testing.T) *corev1.Pod
}

func nativePod(t *testing.T, change func(c *corev1.Container)) *corev1.Pod {
	pod := basePod("latency", app("app", "dial", dbAddr, "then=sleep"))
	attach(t, pod)
	if change != nil {
		change(&pod.Spec.InitContainers[0])
	}
	return pod
}

// waitCmd is the proxy's own `wait` subcommand against the library's health port.
var waitCmd = []string{"/cloud-sql-proxy", "wait", "--max=60s", fmt.Sprintf("--http-port=%d", cloudsqlproxy.DefaultHealthPort)}

var gates = []gate{
	{"native, library default", func(t *testing.T) *corev1.Pod { return nativePod(t, nil) }},
	{"native + exec startupProbe `wait`", func(t *testing.T) *corev1.Pod {
		return nativePod(t, func(c *corev1.Container) {
			c.StartupProbe.HTTPGet = nil
			c.StartupProbe.Exec = &corev1.ExecAction{Command: waitCmd}
			c.StartupProbe.TimeoutSeconds = 61
		})
	}},
	{"native + postStart `wait`", func(t *testing.T) *corev1.Pod {
		return nativePod(t, func(c *corev1.Container) {
			c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: waitCmd}}}
		})
	}},
	{"legacy (postStart `wait`)", func(t *testing.T) *corev1.Pod {
		pod := basePod("latency", app("app", "dial", dbAddr, "then=sleep"))
		attach(t, pod, cloudsqlproxy.WithLegacySidecar())
		return pod
	}},
}

// TestStartupLatency measures, over fresh pods started one at a time, the time from the
// proxy's ready line (its listeners accept) to the application's first dial, for each
// gate. It reports the numbers; what it asserts is what must hold on any machine, however
// busy: every dial connected and came after the proxy's ready line.
func TestStartupLatency(t *testing.T) {
	for _, g := range gates {
		t.Run(g.name, func(t *testing.T) {
			results := measureDials(t, podCount(), 1, cloudsqlproxy.DefaultName, []string{"app"}, func() *corev1.Pod { return g.build(t) })
			requireNoRefusal(t, results, []string{"app"})
			var gaps []time.Duration
			for _, r := range results {
				gaps = append(gaps, r.gap["app"])
			}
			t.Logf("LATENCY %s: proxy ready -> app's first dial: %s", g.name, summary(gaps))
		})
	}
}
