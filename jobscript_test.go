package cloudsqlproxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/internal/procstat"
)

// The Job-mode wrapper runs under a real shell here: dash (Debian's
// /bin/sh) and busybox sh (the ash of the proxy's -alpine image, which is
// the shell that runs it in a pod). The proxy is replaced by a stand-in,
// this test binary itself started with standinDirEnv set, which records
// its arguments and then behaves as standinModeEnv says.

const (
	standinDirEnv  = "CLOUDSQLPROXY_TEST_STANDIN_DIR"
	standinModeEnv = "CLOUDSQLPROXY_TEST_STANDIN_MODE"
)

func init() {
	if dir := os.Getenv(standinDirEnv); dir != "" {
		standinMain(dir, os.Getenv(standinModeEnv))
	}
}

// standinMain is the stand-in proxy. It writes its arguments, each followed
// by a NUL, to <dir>/argv, then:
//   - "exit=N": exits with status N;
//   - "kill=N": kills itself with signal N (9: the kernel's OOM killer);
//   - "term=N": writes <dir>/ready, waits for SIGTERM, writes <dir>/term and
//     exits with status N (0 is the proxy with --exit-zero-on-sigterm).
//
// startJob handles two more modes without it: "missing" and
// "not-executable" stand for an image without a runnable /cloud-sql-proxy.
func standinMain(dir, mode string) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	var argv bytes.Buffer
	for _, a := range os.Args[1:] {
		argv.WriteString(a)
		argv.WriteByte(0)
	}
	must := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "stand-in:", err)
			os.Exit(125)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "argv"), argv.Bytes(), 0o644))
	kind, n, _ := strings.Cut(mode, "=")
	code, err := strconv.Atoi(n)
	must(err)
	switch kind {
	case "exit":
	case "kill":
		must(syscall.Kill(os.Getpid(), syscall.Signal(code)))
		time.Sleep(time.Minute)
	case "term":
		must(os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644))
		select {
		case <-sigs:
			must(os.WriteFile(filepath.Join(dir, "term"), nil, 0o644))
		case <-time.After(time.Minute):
			code = 124 // never told to stop
		}
	default:
		must(fmt.Errorf("unknown mode %q", mode))
	}
	os.Exit(code)
}

// jobShells are the shells to run the wrapper under: the argv prefix that
// stands for "/bin/sh".
func jobShells(t *testing.T) map[string][]string {
	shells := map[string][]string{"dash (/bin/sh)": {"/bin/sh"}}
	if bb, err := exec.LookPath("busybox"); err == nil {
		shells["busybox sh"] = []string{bb, "sh"}
	} else if os.Getenv("CI") != "" {
		t.Fatal("busybox is not installed (apt-get install busybox): the wrapper must be tested under the -alpine image's shell")
	} else {
		t.Log("busybox not installed: testing under /bin/sh only")
	}
	return shells
}

// jobRun is one run of the wrapper.
type jobRun struct {
	cmd *exec.Cmd
	out string // the stand-in's directory
	cwd string // the shell's working directory, where a canary would land
	// exited is closed when the wrapper has exited, with err what Wait
	// returned.
	exited chan struct{}
	err    error
	start  time.Time
}

// startJob runs command (a Job-mode container command) under shell with the
// stand-in in place of /cloud-sql-proxy.
func startJob(t *testing.T, shell []string, command []string, mode string) *jobRun {
	t.Helper()
	if len(command) < 6 || command[0] != "/bin/sh" || command[1] != "-c" || command[5] != "/cloud-sql-proxy" {
		t.Fatalf("not a Job-mode wrapper command: %q", command)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string(nil), shell...), command[1:]...)
	argv[len(shell)+4] = self
	r := &jobRun{out: t.TempDir(), cwd: t.TempDir(), exited: make(chan struct{})}
	switch mode {
	case "missing":
		argv[len(shell)+4] = filepath.Join(r.out, "cloud-sql-proxy")
	case "not-executable":
		argv[len(shell)+4] = filepath.Join(r.out, "cloud-sql-proxy")
		if err := os.WriteFile(argv[len(shell)+4], []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.cmd = exec.Command(argv[0], argv[1:]...)
	r.cmd.Dir = r.cwd
	r.cmd.Env = append(os.Environ(), standinDirEnv+"="+r.out, standinModeEnv+"="+mode)
	// Its own process group, so that the cleanup reaches every process the
	// wrapper started even if the wrapper fails to.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A file, not a pipe: the wrapper's timer (a sleep that outlives it
	// until the pod's container ends) would hold a pipe open, and Wait would
	// wait for it.
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	r.cmd.Stderr = stderr
	// Before Start: the wrapper may start its timer before Start returns,
	// and a clock read after it made the timeout look early (999.8ms < 1s,
	// seen in CI).
	r.start = time.Now()
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		if b, _ := os.ReadFile(stderr.Name()); len(b) > 0 {
			t.Logf("wrapper stderr: %s", b)
		}
	})
	return r
}

// wait returns the wrapper's exit status, failing after limit.
func (r *jobRun) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-r.exited:
		var ee *exec.ExitError
		if errors.As(r.err, &ee) {
			return ee.ExitCode()
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		return 0
	case <-time.After(limit):
		t.Fatalf("the wrapper did not exit within %v", limit)
		return -1
	}
}

func (r *jobRun) exists(name string) bool {
	_, err := os.Stat(filepath.Join(r.out, name))
	return err == nil
}

// waitFor polls until the stand-in wrote name, or the wrapper exited.
func (r *jobRun) waitFor(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !r.exists(name) {
		select {
		case <-r.exited:
			if !r.exists(name) {
				t.Fatalf("the stand-in never wrote %s: the wrapper exited", name)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in never wrote %s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// argv is what the stand-in received.
func (r *jobRun) argv(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.out, "argv"))
	if err != nil {
		t.Fatalf("the stand-in did not run: %v", err)
	}
	args := strings.Split(string(b), "\x00")
	return args[:len(args)-1]
}

// noCanary fails when anything appeared in the shell's working directory:
// every hostile value below tries to create a file there.
func (r *jobRun) noCanary(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(r.cwd)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("the shell ran part of a value: it created %q", e.Name())
	}
}

// waitTrapped waits until the wrapper has started its timer subshell, which
// it does after installing its SIGTERM trap.
func (r *jobRun) waitTrapped(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(childrenOf(r.cmd.Process.Pid)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the wrapper never started its timer")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var kids []int
	for _, p := range procstat.All() {
		if p.PPID == pid {
			kids = append(kids, p.PID)
		}
	}
	return kids
}

// hostileValues are option values that New lets through into the proxy's
// arguments without restricting their alphabet to something shell-safe:
// printable ASCII without blanks, which still holds every shell
// metacharacter. Each part tries to create a file in the working directory.
type hostileValues struct{ socketDir, prefix, endpoint string }

var (
	hostile = hostileValues{
		// A socket path has at most 107 bytes, which keeps this one short.
		socketDir: "/'\"`>b1`;>s1|>p1&>a1$(touch${IFS}c1)*",
		prefix:    "`>b2`;>s2|>p2&>a2$(touch${IFS}c2)'\"\\$IFS*?[a]{b,c}~#!",
		endpoint:  "https://example.com/`>b3`;>s3$(touch${IFS}c3)'x\"y",
	}
	// hostileNoDollar is for a library that rejects "$" (the kubelet would
	// expand "$(NAME)" in arguments): backticks, ";", "|" and "&" still run
	// commands in a shell that evaluates them.
	hostileNoDollar = hostileValues{
		socketDir: "/'\"`>b1`;>s1|>p1&>a1*",
		prefix:    "`>b2`;>s2|>p2&>a2'\"\\*?[a]{b,c}~#!",
		endpoint:  "https://example.com/`>b3`;>s3'x\"y",
	}
)

func hostileJobProxy(t *testing.T, timeout time.Duration) (*cloudsqlproxy.Proxy, hostileValues) {
	t.Helper()
	build := func(v hostileValues) (*cloudsqlproxy.Proxy, error) {
		return cloudsqlproxy.New("my-project:us-central1:db",
			cloudsqlproxy.ForJob(timeout),
			cloudsqlproxy.WithUnixSocket(v.socketDir),
			cloudsqlproxy.WithTelemetry(cloudsqlproxy.Telemetry{Project: "my-project", Prefix: v.prefix}),
			cloudsqlproxy.WithSQLAdminAPIEndpoint(v.endpoint),
		)
	}
	p, err := build(hostile)
	if err == nil {
		return p, hostile
	}
	t.Logf("New rejects the values with $: %v", err)
	p, err = build(hostileNoDollar)
	if err != nil {
		t.Fatalf("New with hostile values: %v", err)
	}
	return p, hostileNoDollar
}

// TestJobWrapperPassesHostileOptionsVerbatim: hostile option values reach
// the proxy byte for byte, and nothing in them runs.
func TestJobWrapperPassesHostileOptionsVerbatim(t *testing.T) {
	p, v := hostileJobProxy(t, time.Hour)
	c := p.Container()
	args := c.Command[6:]
	for _, want := range []string{"--unix-socket=" + v.socketDir, "--telemetry-prefix=" + v.prefix, "--sqladmin-api-endpoint=" + v.endpoint} {
		// The library may write "$" as "$$", which the kubelet turns back
		// into "$" (e2e/fuzz_new_test.go checks that with the kubelet's
		// code); the shell sees what the container spec says.
		if !containsString(args, want) && !containsString(args, strings.ReplaceAll(want, "$", "$$")) {
			t.Fatalf("the proxy's arguments %q lack %q: the test no longer covers that value", args, want)
		}
	}
	for name, shell := range jobShells(t) {
		t.Run(name, func(t *testing.T) {
			r := startJob(t, shell, c.Command, "exit=0")
			if status := r.wait(t, 30*time.Second); status != 0 {
				t.Errorf("exit status %d, want the stand-in's 0", status)
			}
			if diff := cmp.Diff(args, r.argv(t)); diff != "" {
				t.Errorf("arguments the proxy received (-generated +received):\n%s", diff)
			}
			r.noCanary(t)
		})
	}
}

// TestJobWrapperScriptNeverEvaluatesItsParameters gives the script
// positional parameters that New would never produce (newlines, blanks,
// empty strings, bytes that are not UTF-8, leading dashes) to show that the
// script itself never parses them, whatever the library lets through.
func TestJobWrapperScriptNeverEvaluatesItsParameters(t *testing.T) {
	p, _ := hostileJobProxy(t, time.Hour)
	c := p.Container()
	args := []string{
		"", " ", "a b", "--flag=x y", "-", "--", "-c", "x\ny", "\n", "\t\r",
		"$(touch n1)", "`touch n2`", "; touch n3", "&& touch n4", "| touch n5", "> n6", "< /etc/passwd",
		"'", "\"", "\\", "\\'", "$'touch n7'", "${IFS}", "$IFS", "$@", "$*", "$0", "$1", "$p", "$!",
		"*", "?", "[a-z]*", "~", "~root", "{a,b}", "#", "!", "$((1+1))",
		"\xff\xfe", "ünïcödé ☃", "\u202e", strings.Repeat("x", 100000),
		"x\n$(touch n8)\n`touch n9`\n; touch n10",
	}
	command := append(append([]string(nil), c.Command[:6]...), args...)
	for name, shell := range jobShells(t) {
		t.Run(name, func(t *testing.T) {
			r := startJob(t, shell, command, "exit=0")
			if status := r.wait(t, 30*time.Second); status != 0 {
				t.Errorf("exit status %d, want the stand-in's 0", status)
			}
			if diff := cmp.Diff(args, r.argv(t)); diff != "" {
				t.Errorf("arguments the proxy received (-given +received):\n%s", diff)
			}
			r.noCanary(t)
		})
		t.Run(name+"/hostile timeout", func(t *testing.T) {
			// Not a number: sleep fails at once and the wrapper stops the
			// proxy, but the value is still never evaluated.
			hostile := append([]string(nil), command...)
			hostile[4] = "1;touch${IFS}t1$(touch t2)`touch t3`"
			r := startJob(t, shell, hostile, "term=0")
			r.wait(t, 30*time.Second)
			r.noCanary(t)
		})
	}
}

// TestJobWrapperSignalsAndStatus: the wrapper exits with the proxy's own
// status, forwards SIGTERM and SIGINT, and stops the proxy when the timeout
// passes. The Job's success is that status, so every case names one the
// wrapper must not confuse with another: 127 and 126 are also what a shell
// reports for a proxy it could not run (and 127 is the bookkeeping's "no
// status yet"), 137 is a proxy the OOM killer ended, and after a signal the
// proxy decides (0 with --exit-zero-on-sigterm, 143 without).
//
// One branch stays out of reach: a wait repeated after the trap that
// answers 127 because the shell already reported the proxy. dash 0.5.12
// and busybox 1.35 report a finished job again until the next job starts
// (bash --posix answers 127), so only testdata/golden/job-timeout.yaml pins it.
func TestJobWrapperSignalsAndStatus(t *testing.T) {
	p, _ := hostileJobProxy(t, time.Hour)
	long := p.Container().Command
	// The timeout case tries these timeouts, shortest first, until the
	// stand-in is ready before the timeout passes (see timeoutRuns).
	timeouts := []time.Duration{time.Second, 5 * time.Second, 25 * time.Second}
	timeoutCmds := map[time.Duration][]string{}
	for _, d := range timeouts {
		p, _ = hostileJobProxy(t, d)
		timeoutCmds[d] = p.Container().Command
	}
	afterStop := []int{0, 3, 143}
	for name, shell := range jobShells(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				mode string
				want int
			}{
				{"exit=0", 0}, {"exit=1", 1}, {"exit=3", 3}, {"exit=126", 126}, {"exit=127", 127}, {"exit=143", 143},
				{"kill=9", 137}, {"missing", 127}, {"not-executable", 126},
			} {
				t.Run("proxy "+tc.mode, func(t *testing.T) {
					r := startJob(t, shell, long, tc.mode)
					// Well before the hour: the wrapper does not wait for
					// its timer once the proxy is gone.
					if got := r.wait(t, 30*time.Second); got != tc.want {
						t.Errorf("wrapper exit status %d, want the proxy's %d", got, tc.want)
					}
				})
			}
			for _, sig := range []struct {
				name string
				sig  syscall.Signal
			}{{"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}} {
				for _, status := range afterStop {
					t.Run(fmt.Sprintf("%s to the wrapper, proxy exits %d", sig.name, status), func(t *testing.T) {
						r := startJob(t, shell, long, fmt.Sprintf("term=%d", status))
						r.waitFor(t, "ready")
						r.waitTrapped(t)
						if err := r.cmd.Process.Signal(sig.sig); err != nil {
							t.Fatal(err)
						}
						if got := r.wait(t, 30*time.Second); got != status {
							t.Errorf("wrapper exit status %d, want the proxy's %d", got, status)
						}
						if !r.exists("term") {
							t.Error("the proxy never received SIGTERM")
						}
					})
				}
			}
			t.Run("timeout", func(t *testing.T) {
				pending := afterStop
				for _, timeout := range timeouts {
					pending = timeoutRuns(t, shell, timeoutCmds[timeout], timeout, pending)
					if len(pending) == 0 {
						return
					}
					t.Logf("proxy exiting %v: the stand-in was not ready for SIGTERM when the %v timeout passed; trying a longer timeout", pending, timeout)
				}
				t.Errorf("proxy exiting %v: the stand-in was never ready for SIGTERM before the timeout passed", pending)
			})
		})
	}
}

// timeoutRuns runs the wrapper with timeout for each proxy status, started
// together so that the seconds they wait out overlap whatever -parallel
// says. A run proves that the wrapper passes on the status of a proxy it
// stopped only if the stand-in (a re-exec of this test binary, which takes
// more than a second to start on a loaded machine) was ready for SIGTERM
// when the timeout passed; a run in which it was not must still stop no
// earlier than the timeout, the proxy killed by that SIGTERM (143). late
// lists the statuses of those runs, for a longer timeout.
func timeoutRuns(t *testing.T, shell, command []string, timeout time.Duration, statuses []int) (late []int) {
	t.Helper()
	runs := map[int]*jobRun{}
	for _, status := range statuses {
		runs[status] = startJob(t, shell, command, fmt.Sprintf("term=%d", status))
	}
	for _, status := range statuses {
		r := runs[status]
		got := r.wait(t, timeout+30*time.Second)
		if took := time.Since(r.start); took < timeout {
			t.Errorf("proxy exiting %d: stopped after %v, before the %v timeout", status, took, timeout)
		}
		switch {
		case !r.exists("ready"):
			if got != 143 {
				t.Errorf("proxy exiting %d, not yet ready: wrapper exit status %d after the timeout, want 143 (the proxy killed by SIGTERM)", status, got)
			}
			late = append(late, status)
		case got != status:
			t.Errorf("proxy exiting %d: wrapper exit status %d after the timeout", status, got)
		case !r.exists("term"):
			t.Errorf("proxy exiting %d: not sent SIGTERM when the timeout passed", status)
		}
	}
	return late
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
