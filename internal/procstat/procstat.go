// Package procstat reads, from Linux's /proc, the fields of each process's
// stat file that the tests use to find a process's children and group. It is
// for the tests of this module and of the e2e module only.
package procstat

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is one process as its stat file describes it.
type Proc struct {
	PID, PPID, PGRP int
	State           string // one letter: R, S, D, Z, T, ...
}

// All lists every process whose stat file could be read. Processes come and
// go while it reads, so the list is a snapshot, not an atomic one.
func All() []Proc {
	entries, _ := os.ReadDir("/proc")
	var procs []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and
		// parentheses, so the fields start after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 {
			continue
		}
		ppid, err1 := strconv.Atoi(f[1])
		pgrp, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			continue
		}
		procs = append(procs, Proc{PID: pid, PPID: ppid, PGRP: pgrp, State: f[0]})
	}
	return procs
}
