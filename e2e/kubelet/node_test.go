package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The node's fixed names: a bridge and a /24 that nothing else on these machines uses.
// The pods get no default route and no masquerading, so their traffic stays on the
// bridge: the kubelet reaches them for probes, and nothing else does.
const (
	bridgeName = "csqle2e0"
	podSubnet  = "10.213.77.0/24"
	nodeName   = "e2e-node"
	lockPath   = "/run/lock/cloudsqlproxy-e2e-kubelet.lock"
)

type node struct {
	dir       string // everything the daemons write, but what they write elsewhere anyway
	sock      string // containerd's CRI socket
	manifests string
	podLogs   string
	roURL     string // the kubelet's read-only server: /pods
	secureURL string // the kubelet's main server (anonymous, AlwaysAllow): /metrics/probes
	cri       runtimeapi.RuntimeServiceClient
	grpcConn  *grpc.ClientConn
	undo      []func() error // run in reverse by stop
}

// checkHost fails, with what is missing, on a machine where the tier cannot run.
func checkHost() error {
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("not root: the kubelet and containerd need it"))
	}
	if _, err := os.Stat("/sys/module/bridge"); err != nil {
		errs = append(errs, errors.New("no bridge support in the kernel (/sys/module/bridge)"))
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables-save", "ip6tables-save", "nft", "ip", "ldd"} {
		if _, err := exec.LookPath(bin); err != nil {
			errs = append(errs, fmt.Errorf("%s not found (apt-get install containerd runc containernetworking-plugins iptables nftables iproute2)", bin))
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			errs = append(errs, fmt.Errorf("CNI plugin %s not in /usr/lib/cni (apt-get install containernetworking-plugins)", p))
		}
	}
	if out, _ := exec.Command("ip", "-4", "route", "show", podSubnet).Output(); len(strings.TrimSpace(string(out))) > 0 {
		errs = append(errs, fmt.Errorf("%s is already routed here: %s", podSubnet, out))
	}
	return errors.Join(errs...)
}

// startNode records the host state, starts containerd and the kubelet, and imports the
// images. On error it has already undone what it did.
func startNode(kubeletBin string, images []image) (n *node, err error) {
	if err := checkHost(); err != nil {
		return nil, err
	}
	n = &node{}
	defer func() {
		if err != nil {
			if stopErr := n.stop(); stopErr != nil {
				err = fmt.Errorf("%w\n(teardown: %v)", err, stopErr)
			}
			n = nil
		}
	}()
	if err := n.lock(); err != nil {
		return n, err
	}
	// A short path: containerd's socket path must fit a sockaddr_un.
	if n.dir, err = os.MkdirTemp("", "csqlk-"); err != nil {
		return n, err
	}
	n.push(func() error { unmountUnder(n.dir); return os.RemoveAll(n.dir) })
	n.push(saveHostPaths())
	n.push(saveSysctls())
	undoIPT, err := saveIptables()
	if err != nil {
		return n, err
	}
	n.push(undoIPT)
	// A bridge left by a run that was killed before its teardown is ours by its name.
	_ = exec.Command("ip", "link", "del", bridgeName).Run()
	n.push(func() error {
		if exec.Command("ip", "link", "show", bridgeName).Run() != nil {
			return nil
		}
		if out, err := exec.Command("ip", "link", "del", bridgeName).CombinedOutput(); err != nil {
			return fmt.Errorf("ip link del %s: %v %s", bridgeName, err, out)
		}
		return nil
	})
	if err := n.startContainerd(); err != nil {
		return n, err
	}
	if err := n.importImages(images); err != nil {
		return n, err
	}
	if err := n.startKubelet(kubeletBin); err != nil {
		return n, err
	}
	return n, nil
}

func (n *node) push(undo func() error) { n.undo = append(n.undo, undo) }

// stop undoes everything startNode did, in reverse, and reports what it could not undo.
func (n *node) stop() error {
	var errs []error
	for i := len(n.undo) - 1; i >= 0; i-- {
		if err := n.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	n.undo = nil
	return errors.Join(errs...)
}

// lock keeps two runs on one machine (two worktrees' CI) from sharing the host paths the
// daemons use whatever their configuration says.
func (n *node) lock() error {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return err
	}
	n.push(func() error { return f.Close() })
	return nil
}

// daemon starts a long-running process directly (no shell), so the PID kept is its own,
// logging to dir/<name>.log; its undo stops it by that PID.
func (n *node) daemon(name string, argv ...string) (*exec.Cmd, error) {
	logf, err := os.Create(filepath.Join(n.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	n.push(func() error { return stopPID(cmd.Process, done, name) })
	return cmd, nil
}

func stopPID(p *os.Process, done chan struct{}, name string) error {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(15 * time.Second):
	}
	_ = p.Kill()
	select {
	case <-done:
		return fmt.Errorf("%s (pid %d) ignored SIGTERM for 15 s and was killed", name, p.Pid)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", name, p.Pid)
	}
}

func (n *node) logTail(name string, lines int) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, name+".log"))
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// waitFor polls check until it returns nil, the process exits, or timeout passes.
func waitFor(timeout time.Duration, cmd *exec.Cmd, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if cmd != nil && cmd.ProcessState != nil {
			return fmt.Errorf("%s: process exited: %v", what, cmd.ProcessState)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func (n *node) criConnect() error {
	conn, err := grpc.NewClient("unix://"+n.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	n.grpcConn = conn
	n.cri = runtimeapi.NewRuntimeServiceClient(conn)
	n.push(conn.Close)
	return nil
}

// removeSandboxes stops and removes every pod sandbox through CRI, which makes containerd
// tear down the pods' network namespaces and CNI state; the kubelet is stopped by then.
func (n *node) removeSandboxes() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := n.cri.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("CRI ListPodSandbox: %w", err)
	}
	var errs []error
	for _, s := range resp.Items {
		if _, err := n.cri.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			errs = append(errs, err)
		}
		if _, err := n.cri.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killShims ends the runc shims of this containerd, found by the socket address on their
// command line (they detach from containerd, so they are not its children).
func (n *node) killShims() error {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var errs []error
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if !strings.HasSuffix(args[0], "containerd-shim-runc-v2") || !contains(args, n.sock) {
			continue
		}
		pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill shim %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}
