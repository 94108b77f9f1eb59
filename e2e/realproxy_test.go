package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/podspec/cloudsqlproxy"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestRealProxy runs every generated proxy container (each mode times each option case)
// with the real Cloud SQL Auth Proxy binary at the library's default version and checks
// every promise the container makes (see proveProxy).
func TestRealProxy(t *testing.T) {
	api := sharedAdminAPI(t)
	for _, m := range modes {
		for _, c := range optionCases {
			stops := m.stops
			if c.quit && !m.job {
				stops = append(append([]runOpts{}, stops...), runOpts{stop: stopQuitURL})
			}
			for _, ro := range stops {
				name := fmt.Sprintf("%s/%s/%s", m.name, c.name, strings.ReplaceAll(string(ro.stop), " ", "-"))
				if ro.shell != nil {
					name += "/" + strings.Join(ro.shell, "-")
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					spec, proxyName := attachedPod(t, m, c, freeCasePorts(t, api), ro.stop == stopTimeout)
					ro.appEnv, ro.job = c.appEnv, m.job
					if err := proveProxy(t, spec, proxyName, ro); err != nil {
						t.Error(err)
					}
				})
			}
		}
	}
}

// attachedPod builds the cell's proxy with ports p and attaches it to the application pod.
func attachedPod(t *testing.T, m mode, c optionCase, p casePorts, short bool) (*corev1.PodSpec, string) {
	t.Helper()
	proxy, err := newProxy(m, c, p, true, short)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	restart := corev1.RestartPolicyAlways
	if m.job {
		restart = corev1.RestartPolicyNever
	}
	spec := appPodSpec(restart)
	if err := proxy.Attach(&spec); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	return &spec, proxy.Name()
}

// TestRealProxyRejectsBrokenContainers mutates generated containers the way a regression
// in the library would and checks that the real-proxy layer fails each of them: the tier
// can fail.
func TestRealProxyRejectsBrokenContainers(t *testing.T) {
	api := sharedAdminAPI(t)
	byName := func(name string) optionCase {
		for _, c := range optionCases {
			if c.name == name {
				return c
			}
		}
		t.Fatalf("no option case %q", name)
		return optionCase{}
	}
	tests := []struct {
		name   string
		mode   mode
		c      string
		stop   stopBy
		mutate func(*corev1.PodSpec, *corev1.Container)
		want   string // in the error
		// asUser: the shape fails only when the proxy runs as the container's user,
		// which takes a test run as root.
		asUser bool
	}{
		{
			name: "unknown flag", mode: modes[0], c: "defaults", stop: stopSIGTERM,
			mutate: func(_ *corev1.PodSpec, c *corev1.Container) { c.Args = append(c.Args, "--no-such-flag") },
			want:   "unknown flag: --no-such-flag",
		},
		{
			name: "unknown flag in the Job wrapper", mode: modes[3], c: "defaults", stop: stopTimeout,
			mutate: func(_ *corev1.PodSpec, c *corev1.Container) { c.Command = append(c.Command, "--no-such-flag") },
			want:   "unknown flag: --no-such-flag",
		},
		{
			name: "probe on an undeclared port", mode: modes[0], c: "defaults", stop: stopSIGTERM,
			mutate: func(_ *corev1.PodSpec, c *corev1.Container) {
				c.LivenessProbe.HTTPGet.Port = intstr.FromString("csql-nope")
			},
			want: "port csql-nope is not declared",
		},
		{
			name: "startup probe on an undeclared port", mode: modes[1], c: "defaults", stop: stopSIGTERM,
			mutate: func(_ *corev1.PodSpec, c *corev1.Container) {
				c.StartupProbe.HTTPGet.Port = intstr.FromInt32(1)
			},
			want: "port 1 is not declared",
		},
		{
			name: "probe path the proxy does not serve", mode: modes[0], c: "defaults", stop: stopSIGTERM,
			mutate: func(_ *corev1.PodSpec, c *corev1.Container) { c.LivenessProbe.HTTPGet.Path = "/healthz" },
			want:   "liveness probe: status 404",
		},
		{
			name: "health server left on localhost", mode: modes[0], c: "defaults", stop: stopSIGTERM,
			mutate: func(_ *corev1.PodSpec, c *corev1.Container) {
				c.Args = replacePrefixed(c.Args, "--http-address=", "--http-address=127.0.0.1")
			},
			want: "startup probe not 200",
		},
		{
			name: "wait hook that does not wait", mode: modes[1], c: "defaults", stop: stopSIGTERM,
			mutate: func(_ *corev1.PodSpec, c *corev1.Container) {
				c.Lifecycle.PostStart.Exec.Command = []string{"/bin/true"}
			},
			want: "before the proxy was started",
		},
		{
			name: "proxy that does not exit zero on SIGTERM", mode: modes[0], c: "defaults", stop: stopSIGTERM,
			mutate: func(_ *corev1.PodSpec, c *corev1.Container) {
				c.Args = replacePrefixed(c.Args, "--exit-zero-on-sigterm", "--structured-logs")
			},
			want: "status 143, want 0",
		},
		{
			name: "Job without a quit URL for the app", mode: modes[2], c: "defaults", stop: stopQuitURL,
			mutate: func(spec *corev1.PodSpec, _ *corev1.Container) {
				for i := range spec.Containers {
					spec.Containers[i].Env = nil
				}
				for i := range spec.InitContainers {
					spec.InitContainers[i].Env = nil
				}
			},
			want: "no quit URL",
		},
		{
			name: "listener the app is told about is not there", mode: modes[0], c: "listen-address", stop: stopSIGTERM,
			mutate: func(spec *corev1.PodSpec, c *corev1.Container) {
				for i := range spec.Containers {
					for j := range spec.Containers[i].Env {
						if spec.Containers[i].Env[j].Name == "DB_PORT" {
							spec.Containers[i].Env[j].Value = "1"
						}
					}
				}
			},
			want: "connect to listener",
		},
		{
			name: "credentials the container's user cannot read", mode: modes[0], c: "credentials-secret", stop: stopSIGTERM,
			mutate: func(spec *corev1.PodSpec, _ *corev1.Container) {
				for _, v := range spec.Volumes {
					if v.Secret != nil {
						mode := int32(0o440) // root:root files, as the kubelet writes them without fsGroup
						v.Secret.DefaultMode = &mode
					}
				}
			},
			want:   "permission denied",
			asUser: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.asUser && os.Geteuid() != 0 {
				t.Skip("needs root, to run the proxy as the container's user")
			}
			c := byName(tt.c)
			spec, proxyName := attachedPod(t, tt.mode, c, freeCasePorts(t, api), tt.stop == stopTimeout)
			tt.mutate(spec, proxyContainer(t, spec, proxyName))
			err := proveProxy(t, spec, proxyName, runOpts{stop: tt.stop, appEnv: c.appEnv, job: tt.mode.job})
			if err == nil {
				t.Fatalf("the broken container passed the real-proxy layer")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error does not mention %q:\n%v", tt.want, err)
			}
		})
	}
}

// replacePrefixed replaces the first argument starting with prefix by repl.
func replacePrefixed(args []string, prefix, repl string) []string {
	out := append([]string{}, args...)
	for i, a := range out {
		if strings.HasPrefix(a, prefix) {
			out[i] = repl
			return out
		}
	}
	return out
}

// TestJobWrapperSIGTERMIsClean runs the Job wrapper (the generated command, under both
// shells) around a stand-in that exits 0 the instant it gets SIGTERM, many times: the
// wrapper must still exit with the child's status, 0. A wrapper that reads the status of
// the wait its own trap interrupted exits 143 in a few percent of such runs; with the real
// proxy, which takes a few milliseconds to stop, the same race shows less often, so the
// table above alone would catch it only now and then. The kubelet sends this SIGTERM to
// every Job pod it deletes or times out.
func TestJobWrapperSIGTERMIsClean(t *testing.T) {
	const runs = 100
	proxy, err := cloudsqlproxy.New(inst1, cloudsqlproxy.ForJob(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	c := proxy.Container()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{}, c.Command...)
	for i, a := range argv {
		if a == "/cloud-sql-proxy" {
			argv[i] = self
		}
	}
	if argv[0] != "/bin/sh" {
		t.Fatalf("command %q is not the shell wrapper", c.Command)
	}
	for _, shell := range [][]string{{"/bin/sh"}, {"busybox", "sh"}} {
		t.Run(strings.TrimPrefix(strings.Join(shell, "-"), "/bin/"), func(t *testing.T) {
			t.Parallel()
			cmdline := append(append([]string{}, shell...), argv[1:]...)
			codes := map[int]int{}
			for i := 0; i < runs; i++ {
				out := &syncBuffer{}
				p, err := startProcess(t, cmdline, append(os.Environ(), standInEnv+"=1"), out, nil)
				if err != nil {
					t.Fatal(err)
				}
				// The stand-in is this test binary run again: on a loaded
				// 2-core machine its start alone has taken over 10 s.
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(out.tail(1), "ready") {
					if p.exited() {
						t.Fatalf("run %d: the wrapper exited (status %d) before the stand-in was ready: %s", i, p.exitCode(), out.tail(10))
					}
					if time.Now().After(deadline) {
						t.Fatalf("run %d: stand-in not ready after 30s: %s", i, out.tail(10))
					}
					time.Sleep(5 * time.Millisecond)
				}
				if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				if !p.waitExit(10 * time.Second) {
					t.Fatal("the wrapper did not exit within 10s of SIGTERM")
				}
				codes[p.exitCode()]++
			}
			if diff := cmp.Diff(map[int]int{0: runs}, codes); diff != "" {
				t.Errorf("exit statuses of %d SIGTERM'd wrappers (-want +got):\n%s", runs, diff)
			}
		})
	}
}
