//go:build linux

package rig

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK)).
const clockTick = 10 * time.Millisecond

// ProcStat is what the harness reads from /proc/PID/stat.
type ProcStat struct {
	Comm string
	PPid int
	// User and Sys: CPU time of every thread of the process, the exited
	// ones included, in steps of 10 ms (USER_HZ); not its reaped children's
	// (those are in cutime and cstime, which the harness does not use: it
	// lists the children and reads each).
	User, Sys time.Duration
}

// ReadProcStat reads /proc/PID/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(s string) (ProcStat, error) {
	// pid (comm) state ppid ...: comm may hold spaces and parentheses, so
	// split at the last ')'.
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return ProcStat{}, fmt.Errorf("malformed /proc/PID/stat %q", s)
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return ProcStat{}, fmt.Errorf("short /proc/PID/stat %q", s)
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseInt(f[11], 10, 64)
	st, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return ProcStat{}, fmt.Errorf("malformed /proc/PID/stat %q", s)
	}
	return ProcStat{Comm: s[open+1 : end], PPid: ppid, User: time.Duration(ut) * clockTick, Sys: time.Duration(st) * clockTick}, nil
}

// Children returns the pids of the live children of pid.
func Children(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		st, err := parseProcStat(string(b))
		if err != nil || st.PPid != pid {
			continue
		}
		n, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil {
			out = append(out, n)
		}
	}
	return out
}
