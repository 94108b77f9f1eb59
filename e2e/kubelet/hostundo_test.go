package kubelet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// The kubelet, containerd and the CNI plugins change the host whatever their configuration
// says. Each change is recorded before the daemons start and put back by node.stop, in
// reverse order, so that a CI machine is left as it was even when a test fails.

// touchedSysctls are set by the kubelet (vm.*, kernel.*) and the bridge plugin (forwarding).
var touchedSysctls = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
	"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding",
}

func sysctlPath(name string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

// saveSysctls returns the undo that writes back every value that changed.
func saveSysctls() func() error {
	saved := map[string]string{}
	for _, name := range touchedSysctls {
		if b, err := os.ReadFile(sysctlPath(name)); err == nil {
			saved[name] = strings.TrimSpace(string(b))
		}
	}
	return func() error {
		var errs []error
		for name, want := range saved {
			b, err := os.ReadFile(sysctlPath(name))
			if err == nil && strings.TrimSpace(string(b)) == want {
				continue
			}
			if err := os.WriteFile(sysctlPath(name), []byte(want), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restoring %s=%s: %w", name, want, err))
			}
		}
		return errors.Join(errs...)
	}
}

// saveIptables returns the undo that deletes every rule and chain that appeared since, in
// the IPv4 and IPv6 tables alike. Rules present before are never touched, so the tier can
// share a host with other users of iptables.
func saveIptables() (func() error, error) {
	var undos []func() error
	for _, v := range []string{"iptables", "ip6tables"} {
		before, err := iptablesRules(v)
		if err != nil {
			return nil, err
		}
		undos = append(undos, func() error { return restoreIptables(v, before) })
	}
	return func() error { return errors.Join(undos[0](), undos[1]()) }, nil
}

type iptablesState struct {
	tables map[string]bool
	chains map[string]bool // "table chain"
	rules  map[string]bool // "table -A CHAIN ..."
	order  []string        // rules as listed, for deletion in that order
}

func iptablesRules(v string) (iptablesState, error) {
	s := iptablesState{tables: map[string]bool{}, chains: map[string]bool{}, rules: map[string]bool{}}
	out, err := exec.Command(v + "-save").Output()
	if err != nil {
		return s, fmt.Errorf("%s-save: %w", v, err)
	}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			s.tables[table] = true
		case strings.HasPrefix(line, ":"):
			s.chains[table+" "+strings.Fields(line[1:])[0]] = true
		case strings.HasPrefix(line, "-A "):
			key := table + " " + line
			s.rules[key] = true
			s.order = append(s.order, key)
		}
	}
	return s, sc.Err()
}

func restoreIptables(v string, before iptablesState) error {
	now, err := iptablesRules(v)
	if err != nil {
		return err
	}
	var errs []error
	for _, key := range now.order {
		if before.rules[key] {
			continue
		}
		table, rule, _ := strings.Cut(key, " ")
		args := append([]string{"-t", table, "-D"}, splitRule(strings.TrimPrefix(rule, "-A "))...)
		if out, err := exec.Command(v, args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s %v: %v %s", v, args, err, out))
		}
	}
	var chains []string
	for key := range now.chains {
		if !before.chains[key] {
			chains = append(chains, key)
		}
	}
	sort.Strings(chains)
	for _, key := range chains {
		table, chain, _ := strings.Cut(key, " ")
		_ = exec.Command(v, "-t", table, "-F", chain).Run()
	}
	for _, key := range chains {
		table, chain, _ := strings.Cut(key, " ")
		if out, err := exec.Command(v, "-t", table, "-X", chain).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s -t %s -X %s: %v %s", v, table, chain, err, out))
		}
	}
	// With the nf_tables backend a table, once used, stays (empty) after its chains are
	// gone; iptables cannot delete it, nft can.
	family := map[string]string{"iptables": "ip", "ip6tables": "ip6"}[v]
	for table := range now.tables {
		if before.tables[table] {
			continue
		}
		if out, err := exec.Command("nft", "delete", "table", family, table).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("nft delete table %s %s: %v %s", family, table, err, out))
		}
	}
	return errors.Join(errs...)
}

// splitRule splits an iptables-save rule into arguments, keeping quoted comments whole.
func splitRule(rule string) []string {
	var args []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range rule {
		switch {
		case r == '"':
			quoted, any = !quoted, true
		case r == ' ' && !quoted:
			if any {
				args = append(args, cur.String())
			}
			cur.Reset()
			any = false
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		args = append(args, cur.String())
	}
	return args
}

// hostPaths appear on the first run of the daemons whatever their configuration says
// (device-plugin socket dir, shim sockets, CNI cache, network namespaces) and the
// kubelet's per-QoS cgroups. Only those that did not exist before are removed.
func saveHostPaths() func() error {
	paths := []string{"/var/lib/kubelet", "/run/containerd", "/var/lib/cni", "/run/netns", "/etc/cni"}
	cg, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, d := range cg {
		paths = append(paths, filepath.Join(d, "kubepods"))
	}
	absent := map[string]bool{}
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			absent[p] = true
		}
	}
	netnsBefore := listDir("/run/netns")
	return func() error {
		var errs []error
		for _, name := range listDir("/run/netns") {
			if !contains(netnsBefore, name) {
				p := filepath.Join("/run/netns", name)
				_ = syscall.Unmount(p, syscall.MNT_DETACH)
				if err := os.Remove(p); err != nil {
					errs = append(errs, err)
				}
			}
		}
		for _, p := range paths {
			if !absent[p] {
				continue
			}
			if strings.HasPrefix(p, "/sys/fs/cgroup/") {
				errs = append(errs, removeCgroupTree(p))
				continue
			}
			if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink == 0 {
				unmountUnder(p)
				errs = append(errs, os.RemoveAll(p))
			}
		}
		return errors.Join(errs...)
	}
}

func listDir(dir string) []string {
	es, _ := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// removeCgroupTree removes a cgroup directory and its children, deepest first: cgroupfs
// removes a cgroup with rmdir only, once it holds no process.
func removeCgroupTree(root string) error {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}
