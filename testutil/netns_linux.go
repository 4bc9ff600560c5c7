//go:build linux

package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cmdTimeout bounds every external command, so that a wedged tool cannot
// hang the test binary until the global go test timeout.
const cmdTimeout = 30 * time.Second

// NetNS is a named network namespace created for one test. It is named (via
// "ip netns add") rather than anonymous so that external tools (iptables,
// nft, setpriv, tcpdump, ...) can be run inside it with "ip netns exec", and
// so that a leaked namespace is visible and attributable in "ip netns list".
type NetNS struct {
	name string
	path string
	fd   int
}

// NewNetNS creates a fresh network namespace called nflogt-<random hex>,
// brings its loopback device up (a new namespace starts with lo down, and
// nothing, not even 127.0.0.1, works until it is up), and registers cleanups
// that close its file descriptor and delete it. It calls [RequireKernel]
// first, so a test without the prerequisites skips (or fails in CI) here.
func NewNetNS(tb testing.TB) *NetNS {
	tb.Helper()
	RequireKernel(tb)

	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		tb.Fatalf("random namespace name: %v", err)
	}
	name := "nflogt-" + hex.EncodeToString(rnd[:])
	if out, err := runCmd(nil, "ip", "netns", "add", name); err != nil {
		tb.Fatalf("creating network namespace: %v\n%s", err, out)
	}
	tb.Cleanup(func() {
		if out, err := runCmd(nil, "ip", "netns", "delete", name); err != nil {
			tb.Errorf("deleting network namespace %s: %v\n%s", name, err, out)
		}
	})

	ns := &NetNS{name: name, path: "/run/netns/" + name, fd: -1}
	fd, err := unix.Open(ns.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("opening %s: %v", ns.path, err)
	}
	ns.fd = fd
	// Registered after the delete cleanup, so it runs before it (LIFO).
	tb.Cleanup(func() {
		if err := unix.Close(fd); err != nil {
			tb.Errorf("closing namespace fd of %s: %v", name, err)
		}
	})

	ns.ipCmd(tb, "link", "set", "lo", "up")
	return ns
}

// Name returns the namespace name as known to "ip netns".
func (ns *NetNS) Name() string { return ns.name }

// Path returns the bind mount that pins the namespace, /run/netns/NAME.
func (ns *NetNS) Path() string { return ns.path }

// FD returns a read-only file descriptor referring to the namespace. It is
// opened once by [NewNetNS] and closed by the test cleanup; callers must not
// close it. This is the value to hand to code that takes a network namespace
// as a file descriptor (setns(2) semantics), such as the NFLOG reader.
func (ns *NetNS) FD() int { return ns.fd }

// Run runs "ip netns exec NAME name args..." with a 30 s timeout and returns
// its standard output. On failure the test fails with the full command line
// and the combined output.
func (ns *NetNS) Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := ns.RunErr(name, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// RunErr is [NetNS.Run] without failing the test: it returns standard output
// and an error that names the command and includes the combined output.
func (ns *NetNS) RunErr(name string, args ...string) (string, error) {
	return ns.runStdin(nil, name, args...)
}

func (ns *NetNS) runStdin(stdin io.Reader, name string, args ...string) (string, error) {
	full := append([]string{"netns", "exec", ns.name, name}, args...)
	return runCmd(stdin, "ip", full...)
}

// ipCmd runs "ip -n NAME args..." and fails the test on error. "ip -n" is
// the cheap way to run ip inside a namespace: no extra process, no mount
// namespace set up by "ip netns exec".
func (ns *NetNS) ipCmd(tb testing.TB, args ...string) {
	tb.Helper()
	full := append([]string{"-n", ns.name}, args...)
	if _, err := runCmd(nil, "ip", full...); err != nil {
		tb.Fatal(err)
	}
}

// LockedBuffer is a buffer that a child process writes (os/exec copies
// stdout and stderr from goroutines of its own) while a test reads it.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runCmd runs a command with cmdTimeout. It returns stdout; on failure the
// error names the full command and carries the combined output.
func runCmd(stdin io.Reader, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = stdin
	var stdout bytes.Buffer
	var combined LockedBuffer
	cmd.Stdout = io.MultiWriter(&stdout, &combined)
	cmd.Stderr = &combined
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timed out after %v)", err, cmdTimeout)
		}
		return stdout.String(), fmt.Errorf("command `%s` failed: %w\noutput:\n%s",
			shellJoin(append([]string{name}, args...)), err, combined.String())
	}
	return stdout.String(), nil
}

// shellJoin renders a command line for error messages, quoting arguments so
// it can be copied into a shell.
func shellJoin(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]{}!#~") {
			parts[i] = a
			continue
		}
		parts[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(parts, " ")
}

// Do runs fn inside the namespace and returns its error.
//
// Network namespaces are a per-thread property on Linux, while goroutines
// hop between OS threads. Do therefore runs fn on a fresh goroutine that is
// locked to its OS thread (runtime.LockOSThread), switches that thread into
// the namespace with setns(2), runs fn, and switches back to the original
// namespace saved from /proc/thread-self/ns/net. The caller's goroutine and
// thread are never touched. If switching back fails, the thread is left
// locked when the goroutine exits, which makes the Go runtime terminate the
// thread instead of reusing it in the wrong namespace. The model for this is
// cilium/ebpf's internal/testutils/netns_linux.go.
//
// Sockets keep the namespace they were created in, so a socket opened inside
// fn can be used afterwards from any goroutine; that is how the traffic
// helpers work. Goroutines started by fn do NOT run in the namespace. fn must
// not call tb.FailNow/Fatal (they only work on the test goroutine); return an
// error instead. Note also that some state of the net package is computed
// once per process (e.g. whether IPv6 is available) in whatever namespace
// first needs it.
func (ns *NetNS) Do(fn func() error) error {
	if ns == nil || ns.fd < 0 {
		return errors.New("testutil: Do on a nil or unopened NetNS")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testutil: saving current network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			// setns failed, so the thread is still where it was.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testutil: entering network namespace %s: %w", ns.name, err)
			return
		}

		var fnErr error
		returned := false
		// Deferred so that it also runs when fn panics or calls
		// runtime.Goexit (e.g. through t.FailNow).
		defer func() {
			if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
				// Deliberately no UnlockOSThread: the runtime kills a
				// thread whose goroutine exits while locked to it.
				errc <- errors.Join(fnErr, fmt.Errorf("testutil: restoring network namespace after %s: %w", ns.name, err))
				return
			}
			runtime.UnlockOSThread()
			if !returned {
				errc <- errors.New("testutil: function passed to Do did not return (panic, or runtime.Goexit via t.FailNow/t.Fatal)")
				return
			}
			errc <- fnErr
		}()
		fnErr = fn()
		returned = true
	}()
	return <-errc
}

// Iptables runs "iptables -w args..." inside the namespace and fails the test
// on error. -w waits for the xtables lock, which (for iptables-legacy) lives
// in /run and is therefore shared with every other namespace and test.
func (ns *NetNS) Iptables(tb testing.TB, args ...string) {
	tb.Helper()
	RequireTools(tb, "iptables")
	ns.Run(tb, "iptables", withWait(args)...)
}

// Ip6tables is [NetNS.Iptables] for ip6tables.
func (ns *NetNS) Ip6tables(tb testing.TB, args ...string) {
	tb.Helper()
	RequireTools(tb, "ip6tables")
	ns.Run(tb, "ip6tables", withWait(args)...)
}

func withWait(args []string) []string {
	for _, a := range args {
		if a == "-w" || a == "--wait" || strings.HasPrefix(a, "--wait=") {
			return args
		}
	}
	return append([]string{"-w"}, args...)
}

// Nft loads an nft script inside the namespace ("nft -f -" with the script on
// stdin, so it may span several lines and define whole tables) and fails the
// test with nft's output on error.
func (ns *NetNS) Nft(tb testing.TB, script string) {
	tb.Helper()
	RequireTools(tb, "nft")
	if _, err := ns.runStdin(strings.NewReader(script), "nft", "-f", "-"); err != nil {
		tb.Fatalf("%v\nscript:\n%s", err, script)
	}
}

// AddVeth creates a veth pair: localName in ns and peerName in peer, gives
// them the addresses localCIDR and peerCIDR (e.g. "198.18.0.1/24" or
// "2001:db8::1/64"; either may be empty for no address) and brings both up.
// IPv6 addresses are added with "nodad" so that they are usable at once
// rather than "tentative" for the duration of duplicate address detection.
// The pair is deleted in cleanup (deleting one end removes both).
func (ns *NetNS) AddVeth(tb testing.TB, peer *NetNS, localName, peerName, localCIDR, peerCIDR string) {
	tb.Helper()
	if peer == nil || peer == ns {
		tb.Fatal("AddVeth: peer must be a different *NetNS")
	}
	for _, n := range []string{localName, peerName} {
		if n == "" || len(n) > unix.IFNAMSIZ-1 {
			tb.Fatalf("AddVeth: interface name %q must be 1..%d bytes", n, unix.IFNAMSIZ-1)
		}
	}
	ns.ipCmd(tb, "link", "add", localName, "type", "veth", "peer", "name", peerName, "netns", peer.name)
	tb.Cleanup(func() {
		full := []string{"-n", ns.name, "link", "del", localName}
		if _, err := runCmd(nil, "ip", full...); err != nil {
			tb.Errorf("deleting veth: %v", err)
		}
	})
	sides := []struct {
		ns         *NetNS
		name, cidr string
	}{{ns, localName, localCIDR}, {peer, peerName, peerCIDR}}
	// Links first, addresses second: an IPv6 address added while its link
	// is still down does not answer neighbor solicitations until about a
	// second later (the first NS is lost and retransmitted after the 1 s
	// RetransTimer), which would make the first IPv6 packet slow.
	for _, side := range sides {
		side.ns.ipCmd(tb, "link", "set", side.name, "up")
	}
	for _, side := range sides {
		if side.cidr == "" {
			continue
		}
		p, err := netip.ParsePrefix(side.cidr)
		if err != nil {
			tb.Fatalf("AddVeth: %v", err)
		}
		args := []string{"addr", "add", side.cidr, "dev", side.name}
		if p.Addr().Is6() && !p.Addr().Is4In6() {
			args = append(args, "nodad")
		}
		side.ns.ipCmd(tb, args...)
	}
}

// LinkIndex returns the interface index of the named link inside ns.
func LinkIndex(tb testing.TB, ns *NetNS, name string) int {
	tb.Helper()
	return link(tb, ns, name).Index
}

// HardwareAddr returns the MAC address of the named link inside ns, e.g. to
// address frames for [SendRawFrame].
func HardwareAddr(tb testing.TB, ns *NetNS, name string) net.HardwareAddr {
	tb.Helper()
	return link(tb, ns, name).HardwareAddr
}

func link(tb testing.TB, ns *NetNS, name string) *net.Interface {
	tb.Helper()
	var ifi *net.Interface
	err := ns.Do(func() (err error) {
		ifi, err = net.InterfaceByName(name)
		return err
	})
	if err != nil {
		tb.Fatalf("link %q in namespace %s: %v", name, ns.name, err)
	}
	return ifi
}

// ProcNflog returns /proc/net/netfilter/nfnetlink_log as seen from inside ns.
// /proc/net follows the network namespace of the reading process, so the
// file lists only the NFLOG groups bound in that namespace, one line per
// group: group, peer portid, queue length, copy mode, copy range, flush
// timeout, refcount.
func ProcNflog(tb testing.TB, ns *NetNS) string {
	tb.Helper()
	RequireTools(tb, "cat")
	return ns.Run(tb, "cat", "/proc/net/netfilter/nfnetlink_log")
}

// ProcNflogQueueLen returns the number of messages the kernel holds in
// group's pending batch in ns (the third column of ProcNflog), or -1 when
// the group is not bound there.
func ProcNflogQueueLen(tb testing.TB, ns *NetNS, group int) int {
	tb.Helper()
	for _, line := range strings.Split(ProcNflog(tb, ns), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == strconv.Itoa(group) {
			n, err := strconv.Atoi(f[2])
			if err != nil {
				tb.Fatalf("queue length in %q: %v", line, err)
			}
			return n
		}
	}
	return -1
}

// StartTcpdump runs "tcpdump -i nflog:GROUP ARGS..." inside ns and returns
// once tcpdump says it is listening, that is, once it has bound the group
// (it then holds it, as any other NFLOG reader would). The process is
// killed in cleanup if it is still running; its stderr is in the buffer.
func StartTcpdump(tb testing.TB, ns *NetNS, group int, args ...string) (*exec.Cmd, *LockedBuffer) {
	tb.Helper()
	RequireTools(tb, "tcpdump")
	argv := append([]string{"netns", "exec", ns.Name(), "tcpdump", "-i", fmt.Sprintf("nflog:%d", group)}, args...)
	cmd := exec.Command("ip", argv...)
	stderr := &LockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting tcpdump: %v", err)
	}
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(cmdTimeout)
	for !strings.Contains(stderr.String(), "listening on") {
		if time.Now().After(deadline) {
			tb.Fatalf("tcpdump did not bind NFLOG group %d within %v: %s", group, cmdTimeout, stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, stderr
}
