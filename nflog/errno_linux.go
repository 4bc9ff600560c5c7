//go:build linux

package nflog

// The kernel's errnos turned into errors that say what to do, with the
// /proc lookups that tell the cases apart (who holds a group, whether
// nfnetlink_log is there).

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// explainBindError turns the kernel's answer into an error that says what
// to do, keeping the errno for errors.Is.
func (s *socketSource) explainBindError(group int, err error, c *Config) error {
	switch {
	case errors.Is(err, unix.EPERM):
		// The kernel answers EPERM both when the group belongs to another
		// socket and when CAP_NET_ADMIN is missing: the proc file tells.
		if port, ok := s.groupOwner(group); ok && port != s.conn.PID() {
			return fmt.Errorf("%w: netlink port %d holds it%s; stop that reader or choose another group (iptables --nflog-group, nft log group): %w",
				ErrGroupBusy, port, describePort(port), err)
		}
		return fmt.Errorf("%w: binding an NFLOG group needs CAP_NET_ADMIN: run as root, grant the binary the capability (setcap cap_net_admin+ep BINARY) or the service (systemd AmbientCapabilities=CAP_NET_ADMIN): %w",
			ErrPermission, err)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w: this socket already bound the group: %w", ErrGroupBusy, err)
	case errors.Is(err, unix.EOPNOTSUPP) && c.Flags&FlagConntrack != 0:
		return fmt.Errorf("%w: the conntrack flag needs the kernel's conntrack glue for nfnetlink_log (CONFIG_NETFILTER_NETLINK_GLUE_CT and nf_conntrack_netlink: try modprobe nf_conntrack_netlink); drop the flag otherwise: %w", ErrNotSupported, err)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOENT):
		if _, statErr := os.Stat("/proc/net/netfilter/nfnetlink_log"); statErr != nil {
			return fmt.Errorf("%w: the kernel has no nfnetlink_log (modprobe nfnetlink_log, or build it with CONFIG_NETFILTER_NETLINK_LOG): %w", ErrNotSupported, err)
		}
		return fmt.Errorf("the kernel rejected the configuration: %w", err)
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: the group is not bound: %w", ErrNotSupported, err)
	}
	return err
}

// groupOwner reads which netlink port holds group, from
// /proc/net/netfilter/nfnetlink_log as the reader's namespace sees it.
// Its lines are "group portid qlen copy_mode copy_range flushtimeout use".
func (s *socketSource) groupOwner(group int) (uint32, bool) {
	text, err := readProcNet(s.netns, "netfilter/nfnetlink_log")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != strconv.Itoa(group) {
			continue
		}
		port, err := strconv.ParseUint(f[1], 10, 32)
		return uint32(port), err == nil
	}
	return 0, false
}

// describePort names the process whose pid equals the port, which is the
// usual case for a process's first netlink socket.
func describePort(port uint32) string {
	comm, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(port), 10) + "/comm")
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (probably process %d, %q)", port, strings.TrimSpace(string(comm)))
}

// readProcNet reads a /proc/net file as seen from the network namespace
// netns (0: ours), switching a locked thread into it if needed.
func readProcNet(netns int, name string) (string, error) {
	if netns == 0 {
		b, err := os.ReadFile("/proc/net/" + name)
		return string(b), err
	}
	var (
		b   []byte
		err error
		wg  sync.WaitGroup
	)
	wg.Add(1)
	go func() { // a fresh goroutine, so a thread that cannot be restored dies with it
		defer wg.Done()
		runtime.LockOSThread()
		orig, e := os.Open("/proc/thread-self/ns/net")
		if e != nil {
			err = e
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		if e := unix.Setns(netns, unix.CLONE_NEWNET); e != nil {
			err = e
			runtime.UnlockOSThread()
			return
		}
		b, err = os.ReadFile("/proc/thread-self/net/" + name)
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // else the thread stays locked and exits with the goroutine
		}
	}()
	wg.Wait()
	return string(b), err
}

func explainSocketError(err error) error {
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return fmt.Errorf("%w: the kernel has no netfilter netlink (CONFIG_NETFILTER_NETLINK): %w", ErrNotSupported, err)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: opening a socket in another network namespace needs CAP_SYS_ADMIN besides CAP_NET_ADMIN: "+
			"run as root, grant both (setcap cap_net_admin,cap_sys_admin+ep BINARY, or in the systemd unit "+
			"AmbientCapabilities=CAP_NET_ADMIN CAP_SYS_ADMIN and the same CapabilityBoundingSet=), "+
			"or, with CAP_NET_ADMIN only, start the process in the namespace (ip netns exec NAME, or systemd NetworkNamespacePath=) "+
			"and open the reader without a namespace: %w", ErrPermission, err)
	}
	return err
}
