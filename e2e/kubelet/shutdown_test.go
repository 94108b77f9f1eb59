package kubelet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/podspec/cloudsqlproxy"
	corev1 "k8s.io/api/core/v1"
)

// backendPod is a pod whose application reaches a live "database" through the proxy: the
// backend sidecar first, then the proxy (pointed at the backend's SQL Admin API), then
// the application.
func backendPod(t *testing.T, name string, appArgs []string, opts ...cloudsqlproxy.Option) *corev1.Pod {
	t.Helper()
	pod := basePod(name, app("app", appArgs...))
	attach(t, pod, append([]cloudsqlproxy.Option{cloudsqlproxy.WithSQLAdminAPIEndpoint(backendAPI)}, opts...)...)
	pod.Spec.InitContainers = append([]corev1.Container{backendSidecar()}, pod.Spec.InitContainers...)
	return pod
}

// TestShutdownOrder deletes a pod while its application holds a connection through the
// proxy. The kubelet must stop the application first and the proxy only after the
// application has exited, so the application can still use its connection after its own
// SIGTERM.
func TestShutdownOrder(t *testing.T) {
	n := theNode
	proxy := cloudsqlproxy.DefaultName
	name := n.runPod(t, backendPod(t, "shutdown", []string{"hold", dbAddr, "1s", "0s"}))
	n.waitLog(t, name, "app", "HOLD OPEN", 3*time.Minute)
	n.deletePod(name)

	// The kubelet removes a deleted pod's containers and logs soon after: keep copies.
	var keep logKeeper
	cri := map[string]criContainer{}
	err := waitFor(2*time.Minute, nil, "pod to stop", func() error {
		keep.update(n, name, "app", proxy, "backend")
		if cs, err := n.criContainers(name); err == nil {
			for k, v := range cs {
				cri[k] = v
			}
		}
		for _, c := range []string{"app", proxy, "backend"} {
			if cri[c].finished.IsZero() {
				return fmt.Errorf("%s still running", c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, n.allLogs(name))
	}
	keep.update(n, name, "app", proxy, "backend")
	appLog, proxyLog := keep.get("app"), keep.get(proxy)
	for _, want := range []string{"APP SIGTERM", "AFTER OK", "APP EXIT"} {
		if _, ok := firstLine(appLog, want); !ok {
			t.Errorf("app log lacks %q: the connection was cut before the app was done\n%s", want, lines(appLog))
		}
	}
	term, ok := firstLine(proxyLog, sigtermLine)
	if !ok {
		t.Fatalf("proxy log lacks %q\n%s", sigtermLine, lines(proxyLog))
	}
	appExit := cri["app"].finished
	if !term.at.After(appExit) {
		t.Errorf("proxy got SIGTERM at %s, before the app exited at %s", term.at.Format(time.StampMicro), appExit.Format(time.StampMicro))
	}
	for _, c := range []string{"app", proxy, "backend"} {
		if cri[c].exitCode != 0 {
			t.Errorf("%s exited %d", c, cri[c].exitCode)
		}
	}
	if !cri["backend"].finished.After(cri[proxy].finished) {
		t.Errorf("backend stopped at %s, before the proxy at %s: sidecars stop in reverse order", cri["backend"].finished, cri[proxy].finished)
	}
	t.Logf("app exited %s; proxy SIGTERM %.3f s later, exited %.3f s later; backend exited %.3f s after the proxy",
		appExit.Format(time.StampMicro), term.at.Sub(appExit).Seconds(), cri[proxy].finished.Sub(appExit).Seconds(),
		cri["backend"].finished.Sub(cri[proxy].finished).Seconds())
}

func lines(ls []logLine) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%s %s\n", l.at.Format(time.StampMicro), l.text)
	}
	return b.String()
}

// TestProbesAsTheKubeletRunsThem: the startup, liveness and (opt-in) readiness probes the
// library declares succeed when the kubelet runs them, against the pod IP through the
// named port, and the pod's Ready condition follows the proxy's readiness: with
// WithMaxConnections(1) the proxy turns unready while the application holds its one
// connection, and ready again when it closes it.
func TestProbesAsTheKubeletRunsThem(t *testing.T) {
	n := theNode
	proxy := cloudsqlproxy.DefaultName
	fast := cloudsqlproxy.ProbeTiming{PeriodSeconds: 1, FailureThreshold: 1}
	pod := backendPod(t, "probes", []string{"hold", dbAddr, "8s", "8s"},
		cloudsqlproxy.WithReadinessProbe(fast), cloudsqlproxy.WithLivenessProbe(cloudsqlproxy.ProbeTiming{PeriodSeconds: 1}),
		cloudsqlproxy.WithMaxConnections(1))
	name := n.runPod(t, pod)

	// Ready must go true (proxy ready, no connection), false (the app holds the one
	// connection allowed), true again (closed).
	var seen []bool
	var proxyReadyWhenUnready []bool
	err := waitFor(3*time.Minute, nil, "Ready true, false, true", func() error {
		pods, err := n.pods()
		if err != nil || pods[name] == nil {
			return fmt.Errorf("no status")
		}
		p := pods[name]
		r := isReady(p)
		if len(seen) == 0 || seen[len(seen)-1] != r {
			seen = append(seen, r)
		}
		if !r && len(seen) > 1 {
			if s := containerStatus(p, proxy); s != nil {
				proxyReadyWhenUnready = append(proxyReadyWhenUnready, s.Ready)
			}
		}
		if strings.HasPrefix(fmt.Sprint(trimLeadingFalse(seen)), "[true false true") {
			return nil
		}
		return fmt.Errorf("Ready so far: %v", seen)
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, n.allLogs(name))
	}
	for _, r := range proxyReadyWhenUnready {
		if r {
			t.Errorf("pod unready while the proxy container was ready: Ready did not follow the proxy")
		}
	}
	if _, ok := firstLine(n.logs(name, "app"), "HOLD CLOSED"); !ok {
		t.Errorf("pod turned ready again before the app closed its connection\n%s", n.allLogs(name))
	}
	m, err := n.probeMetrics(name)
	if err != nil {
		t.Fatal(err)
	}
	for key, min := range map[string]float64{
		proxy + " Startup successful": 1, proxy + " Liveness successful": 3,
		proxy + " Readiness successful": 2, proxy + " Readiness failed": 1,
	} {
		if m[key] < min {
			t.Errorf("kubelet probe count %q = %v, want >= %v (all: %v)", key, m[key], min, m)
		}
	}
	if m[proxy+" Liveness failed"] != 0 {
		t.Errorf("liveness failed %v times", m[proxy+" Liveness failed"])
	}
	s := containerStatus(func() *corev1.Pod { p, _ := n.pods(); return p[name] }(), proxy)
	if s == nil || s.RestartCount != 0 {
		t.Errorf("proxy restarted: %+v", s)
	}
	t.Logf("Ready went %v; kubelet probe counts: %v", seen, m)
}

func trimLeadingFalse(seen []bool) []bool {
	for len(seen) > 0 && !seen[0] {
		seen = seen[1:]
	}
	return seen
}
