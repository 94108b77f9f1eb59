package kubelet

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// kubeletMark finds, in the kubelet's own log (level 3), the first line about pod that
// contains every one of parts, and returns its time. It shows where the time between the
// proxy's readiness and the application's start goes: in the kubelet's probe loop, or in
// its pod sync loop.
func (n *node) kubeletMark(pod string, parts ...string) (time.Time, bool) {
	b, err := os.ReadFile(filepath.Join(n.dir, "kubelet.log"))
	if err != nil {
		return time.Time{}, false
	}
	// pod="default/x", object="default/x" and pods=["default/x"] alike.
	podRef := `"default/` + pod + `"`
	now := time.Now()
lines:
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, podRef) {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue lines
			}
		}
		// klog: "I1206 20:21:27.538884 ..." in local time, without the year.
		f := strings.Fields(line)
		if len(f) < 2 || len(f[0]) != 5 {
			continue
		}
		at, err := time.ParseInLocation("0102 15:04:05.000000", f[0][1:]+" "+f[1], time.Local)
		if err != nil {
			continue
		}
		return at.AddDate(now.Year(), 0, 0), true
	}
	return time.Time{}, false
}
