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
	name    string
	library bool // the library's own output, measured with the full pod count
	probe   bool // gated by a startup probe
	build   func(t *testing.T) *corev1.Pod
}

func nativePod(t *testing.T, change func(c *corev1.Container)) *corev1.Pod {
	pod := basePod("latency", app("app", "dial", dbAddr, "then=sleep"))
	attach(t, pod)
	if change != nil {
		change(&pod.Spec.InitContainers[0])
	}
	return pod
}

// waitCmd is the proxy's own `wait` subcommand against the library's health port. It
// polls /startup once a second (cmd/root.go of v2.25.3: time.Sleep(time.Second)).
var waitCmd = []string{"/cloud-sql-proxy", "wait", "--max=60s", fmt.Sprintf("--http-port=%d", cloudsqlproxy.DefaultHealthPort)}

func postStartWait(c *corev1.Container) {
	c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: waitCmd}}}
}

// The alternatives to the library's gates are the ones a pod spec can express: the
// kubelet's probe period cannot go below 1 s, its pod sync loop waits for the generic
// PLEG's relist (every second) before each sync, and the proxy's image has no shell.
var gates = []gate{
	{"native, library default (startupProbe httpGet, period 1s)", true, true, func(t *testing.T) *corev1.Pod { return nativePod(t, nil) }},
	{"legacy, library (postStart `wait`)", true, false, func(t *testing.T) *corev1.Pod {
		pod := basePod("latency", app("app", "dial", dbAddr, "then=sleep"))
		attach(t, pod, cloudsqlproxy.WithLegacySidecar())
		return pod
	}},
	{"native, exec startupProbe `wait`", false, true, func(t *testing.T) *corev1.Pod {
		return nativePod(t, func(c *corev1.Container) {
			c.StartupProbe.HTTPGet = nil
			c.StartupProbe.Exec = &corev1.ExecAction{Command: waitCmd}
			c.StartupProbe.TimeoutSeconds = 61
		})
	}},
	{"native, startupProbe + postStart `wait`", false, true, func(t *testing.T) *corev1.Pod {
		return nativePod(t, postStartWait)
	}},
	// Drops the startup probe, which the library keeps (see e2e/README.md, "The kubelet
	// tier"); measured to show what the probe costs.
	{"native, postStart `wait` instead of the startupProbe", false, false, func(t *testing.T) *corev1.Pod {
		return nativePod(t, func(c *corev1.Container) { c.StartupProbe = nil; postStartWait(c) })
	}},
}

// TestStartupLatency measures, over fresh pods started one at a time, the time from the
// proxy's ready line (its listeners accept) to the application's first dial, for the
// library's gates and the alternatives a pod spec can express, and splits it with the
// kubelet's own log: proxy ready -> startup probe passed -> kubelet starts the app ->
// app dials. It reports the numbers. What it asserts holds on any machine, however busy:
// every dial connected, and with a startup probe the kubelet started the application
// only after the probe passed (both from the kubelet's own log, in its own order).
func TestStartupLatency(t *testing.T) {
	for _, g := range gates {
		t.Run(g.name, func(t *testing.T) {
			count := podCount()
			if !g.library {
				count = (count + 1) / 2
			}
			results := measureDials(t, count, 1, cloudsqlproxy.DefaultName, []string{"app"}, func() *corev1.Pod { return g.build(t) })
			requireNoRefusal(t, results, []string{"app"})
			var total, toReady, toProbe, toStart, toDial []time.Duration
			for _, r := range results {
				total = append(total, r.gap["app"])
				if added, ok := theNode.kubeletMark(r.pod, `"SyncLoop ADD"`); ok {
					toReady = append(toReady, r.ready.Sub(added))
				}
				start, ok := theNode.kubeletMark(r.pod, `reason="Pulled"`, "spec.containers{app}")
				if !ok {
					t.Errorf("pod %s: no kubelet log line for the app's start", r.pod)
					continue
				}
				toDial = append(toDial, r.dial["app"].Sub(start))
				if !g.probe {
					toStart = append(toStart, start.Sub(r.ready))
					continue
				}
				passed, ok := theNode.kubeletMark(r.pod, `"Probe succeeded"`, `probeType="Startup"`)
				if !ok {
					t.Errorf("pod %s: no kubelet log line for the startup probe's success", r.pod)
					continue
				}
				if !start.After(passed) {
					t.Errorf("pod %s: the kubelet started the app at %s, before the startup probe passed at %s", r.pod, start, passed)
				}
				toProbe = append(toProbe, passed.Sub(r.ready))
				toStart = append(toStart, start.Sub(passed))
			}
			t.Logf("LATENCY %s: proxy ready -> app's first dial: %s", g.name, summary(total))
			t.Logf("LATENCY   (before that: kubelet admits the pod -> proxy ready: %s)", summary(toReady))
			if g.probe {
				t.Logf("LATENCY   of which proxy ready -> startup probe passed: %s", summary(toProbe))
				t.Logf("LATENCY   of which probe passed -> kubelet starts the app: %s", summary(toStart))
			} else {
				t.Logf("LATENCY   of which proxy ready -> kubelet starts the app: %s", summary(toStart))
			}
			t.Logf("LATENCY   of which kubelet starts the app -> app dials: %s", summary(toDial))
		})
	}
}
