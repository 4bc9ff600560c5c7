//go:build linux

package rig

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nflogr/telegraf-nflog/bench/internal/netns"
)

// NFLOGInstance is a line of /proc/net/netfilter/nfnetlink_log.
type NFLOGInstance struct {
	Group, PortID, Qlen, CopyMode, CopyRange, FlushTimeout int
}

// NetlinkSock is a line of /proc/net/netlink.
type NetlinkSock struct {
	Proto, PortID int
	Rmem, Drops   uint64
}

// NSView reads the procfs files that follow the reader's network namespace,
// from a thread parked in the namespace (/proc/net is /proc/self/net, which
// follows the main thread, so /proc/thread-self/net is read instead).
type NSView struct{ t *netns.Thread }

// NewNSView starts a thread in the namespace at path to read its procfs
// files; Close ends it.
func NewNSView(path string) (*NSView, error) {
	t, err := netns.NewThread(path)
	if err != nil {
		return nil, err
	}
	return &NSView{t: t}, nil
}

// Close ends the thread.
func (v *NSView) Close() { v.t.Close() }

func (v *NSView) read(name string) (b []byte, err error) {
	v.t.Do(func() { b, err = os.ReadFile("/proc/thread-self/net/" + name) })
	return b, err
}

// Instance returns the NFLOG instance of group, if bound.
func (v *NSView) Instance(group int) (NFLOGInstance, bool, error) {
	b, err := v.read("netfilter/nfnetlink_log")
	if err != nil {
		return NFLOGInstance{}, false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		var in NFLOGInstance
		ints := []*int{&in.Group, &in.PortID, &in.Qlen, &in.CopyMode, &in.CopyRange, &in.FlushTimeout}
		ok := true
		for i, p := range ints {
			n, err := strconv.Atoi(f[i])
			if err != nil {
				ok = false
				break
			}
			*p = n
		}
		if ok && in.Group == group {
			return in, true, nil
		}
	}
	return NFLOGInstance{}, false, nil
}

// Socket returns the NETLINK_NETFILTER socket with the given port id.
func (v *NSView) Socket(portID int) (NetlinkSock, bool, error) {
	b, err := v.read("netlink")
	if err != nil {
		return NetlinkSock{}, false, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
		f := strings.Fields(sc.Text())
		if len(f) < 9 || f[1] != "12" { // NETLINK_NETFILTER
			continue
		}
		pid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil || int(uint32(pid)) != portID {
			continue
		}
		rmem, _ := strconv.ParseUint(f[4], 10, 64)
		drops, _ := strconv.ParseUint(f[8], 10, 64)
		return NetlinkSock{Proto: 12, PortID: portID, Rmem: rmem, Drops: drops}, true, nil
	}
	return NetlinkSock{}, false, nil
}

// ProcessCPU returns the CPU time in nanoseconds used so far by the live
// threads of pid (sum_exec_runtime of /proc/PID/task/*/schedstat).
func ProcessCPU(pid int) (int64, error) {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(dirs) == 0 {
		return 0, fmt.Errorf("no threads for pid %d", pid)
	}
	var sum int64
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		sum += n
	}
	return sum, nil
}

// CPUsAllowed returns Cpus_allowed_list of pid.
func CPUsAllowed(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// WithAffinity runs start (which forks) on a thread pinned to cpu, so that
// the child inherits the pinning; cpu < 0 leaves it alone.
func WithAffinity(cpu int, start func() error) error {
	if cpu < 0 {
		return start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pinning to CPU %d: %w", cpu, err)
	}
	defer unix.SchedSetaffinity(0, &old)
	return start()
}
