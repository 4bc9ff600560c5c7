//go:build linux

package nflog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// recvBufferSize is the receive buffer of a live reader. The kernel fills a
// batch until the next message no longer fits the tail room of its socket
// buffer, which the allocator rounds up: with NetlinkBufferSize 128 KiB a
// datagram can approach 256 KiB. A larger datagram is cut and counted as a
// decode error.
const recvBufferSize = 512 << 10

// Open opens a reader bound to one NFLOG group. cfg may be nil for the
// defaults. The process needs CAP_NET_ADMIN (root, or e.g.
// setcap cap_net_admin+ep on the binary).
func Open(group int, cfg *Config) (*Reader, error) {
	return OpenGroups([]int{group}, cfg)
}

// OpenGroups opens a reader bound to several NFLOG groups on one socket,
// all with the same settings. Packet.Group tells them apart.
func OpenGroups(groups []int, cfg *Config) (*Reader, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if err := c.Validate(groups); err != nil {
		return nil, err
	}
	groups = append([]int(nil), groups...)

	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: c.NetNS})
	if err != nil {
		return nil, &OpError{Op: "open netlink socket", Group: -1, Err: explainSocketError(err)}
	}
	src := &socketSource{conn: conn, netns: c.NetNS}
	src.rd.init()
	fail := func(err error) (*Reader, error) {
		src.close()
		return nil, err
	}
	if src.raw, err = conn.SyscallConn(); err != nil {
		return fail(&OpError{Op: "open netlink socket", Group: -1, Err: err})
	}
	if err := src.setup(&c); err != nil {
		return fail(err)
	}

	var names nameResolver
	if !c.DisableInterfaceNames {
		n, err := newInterfaceNames(c.NetNS)
		if err != nil {
			return fail(&OpError{Op: "watch interface names", Group: -1, Err: err})
		}
		src.names = n
		names = n
	}

	r := newReader(src, groups, c, names)
	for _, g := range groups {
		err := r.request(context.Background(), func(pump func() error) error { return src.bind(g, &c, pump) })
		if err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// setup applies the socket options.
func (s *socketSource) setup(c *Config) error {
	if c.OnOverrun == OverrunIgnore {
		if err := s.conn.SetOption(netlink.NoENOBUFS, true); err != nil {
			return &OpError{Op: "set NETLINK_NO_ENOBUFS", Group: -1, Err: err}
		}
	}
	if c.ReadBufferSize > 0 {
		if _, err := s.setReadBuffer(c.ReadBufferSize); err != nil {
			return &OpError{Op: "set receive buffer", Group: -1, Err: err}
		}
	}
	return nil
}

// bind binds one group and configures it in a single request, so the
// kernel's defaults (1 s flush timeout, threshold 100) never apply.
func (s *socketSource) bind(group int, c *Config, pump func() error) error {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian // netfilter values are big-endian
	ae.Uint8(cfgAttrCmd, cfgCmdBind)
	mode := make([]byte, 6) // struct nfulnl_msg_config_mode {__be32 copy_range; __u8 copy_mode; __u8 _pad;}
	binary.BigEndian.PutUint32(mode, c.CopyRange)
	mode[4] = c.CopyMode.kernel()
	ae.Bytes(cfgAttrMode, mode)
	ae.Uint32(cfgAttrTimeout, c.timeoutTicks())
	ae.Uint32(cfgAttrQthresh, c.QueueThreshold)
	if c.NetlinkBufferSize != 0 {
		ae.Uint32(cfgAttrNlbufsiz, c.NetlinkBufferSize)
	}
	if c.Flags != 0 {
		ae.Uint16(cfgAttrFlags, uint16(c.Flags))
	}
	attrs, err := ae.Encode()
	if err != nil {
		return &OpError{Op: "bind", Group: group, Err: err}
	}

	err = s.configure(group, attrs, pump)
	if errors.Is(err, unix.EAGAIN) && c.Flags&FlagConntrack != 0 {
		// The kernel just loaded nf_conntrack_netlink for the conntrack flag
		// and asks for the request again.
		err = s.configure(group, attrs, pump)
	}
	if err != nil {
		return &OpError{Op: "bind", Group: group, Err: s.explainBindError(group, err, c)}
	}
	return nil
}

// unbind unbinds one group; the kernel then sends what it still holds.
func (s *socketSource) unbind(group int, pump func() error) error {
	ae := netlink.NewAttributeEncoder()
	ae.Uint8(cfgAttrCmd, cfgCmdUnbind)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	return s.configure(group, attrs, pump)
}

// configure sends one config request (NFULNL_MSG_CONFIG) for group and
// pumps the socket until the kernel's acknowledgement came, which answer
// picks out of the stream.
func (s *socketSource) configure(group int, attrs []byte, pump func() error) error {
	data := make([]byte, nfgenmsgLen, nfgenmsgLen+len(attrs))
	data[0] = unix.AF_UNSPEC
	binary.BigEndian.PutUint16(data[2:], uint16(group))
	data = append(data, attrs...)

	req, err := s.conn.Send(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(nfulnlMsgConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: data,
	})
	if err != nil {
		return err
	}
	s.req = pendingRequest{seq: req.Header.Sequence, waiting: true}
	defer func() { s.req = pendingRequest{} }()
	for s.req.waiting {
		if err := pump(); err != nil {
			return err
		}
	}
	return s.req.err
}

// pendingRequest is the config request waiting for its acknowledgement.
type pendingRequest struct {
	seq     uint32 // its netlink sequence number
	waiting bool
	err     error // the kernel's answer, once it came
}

func (s *socketSource) answer(seq uint32, err error) bool {
	if !s.req.waiting || seq != s.req.seq {
		return false
	}
	s.req.waiting, s.req.err = false, err
	return true
}

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
		return fmt.Errorf("%w: opening a socket in that network namespace needs CAP_SYS_ADMIN: %w", ErrPermission, err)
	}
	return err
}

// socketSource receives datagrams from the netlink socket. It reads through
// SyscallConn into the reader's one buffer rather than netlink.Conn.Receive,
// which probes each datagram's size with an extra MSG_PEEK call and starts a
// context-watcher goroutine per call (measured in bench/README.md).
type socketSource struct {
	conn  *netlink.Conn
	raw   syscall.RawConn
	netns int
	names *interfaceNames

	// Guarded by the reader's receive lock.
	rd  recvState
	req pendingRequest

	closeMu sync.Once
}

func (s *socketSource) bufferSize() int   { return recvBufferSize }
func (s *socketSource) seqFromZero() bool { return true }

func (s *socketSource) close() error {
	var err error
	s.closeMu.Do(func() {
		if s.names != nil {
			s.names.close()
		}
		err = s.conn.Close()
	})
	return err
}

func (s *socketSource) receive(ctx context.Context, buf []byte, wait bool) (batch, error) {
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return batch{}, err
		}
		// Cancelling ctx sets a past read deadline, which wakes the read.
		// No goroutine is started unless ctx is actually cancelled.
		stop := context.AfterFunc(ctx, func() { s.conn.SetReadDeadline(time.Unix(1, 0)) })
		defer func() {
			if !stop() { // it ran: clear the deadline for the next read
				s.conn.SetReadDeadline(time.Time{})
			}
		}()
	}
	s.rd.buf, s.rd.wait = buf, wait
	for {
		err := s.raw.Read(s.rd.fn)
		n, errno := s.rd.n, s.rd.errno
		switch {
		case err != nil:
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if ctx.Err() != nil {
					return batch{}, ctx.Err()
				}
				s.conn.SetReadDeadline(time.Time{}) // left over from another caller's context
				continue
			}
			if errors.Is(err, os.ErrClosed) {
				return batch{}, ErrClosed
			}
			return batch{}, &OpError{Op: "receive", Group: -1, Err: err}
		case errno == unix.EAGAIN:
			return batch{}, ErrWouldBlock
		case errno == unix.ENOBUFS:
			return batch{}, fmt.Errorf("%w: %w", errENOBUFS, errno)
		case errno == unix.EINTR:
			continue
		case errno != 0:
			return batch{}, &OpError{Op: "receive", Group: -1, Err: errno}
		}
		if n > len(buf) {
			// Cannot happen with the kernel's batch sizes; keep what fits so
			// the loss is reported as a decode error, not silent.
			n = len(buf)
		}
		return batch{data: buf[:n], framed: true, time: time.Now().Round(0)}, nil
	}
}

// recvState is the callback handed to RawConn.Read and its results. It
// lives in the socketSource, built once, because a closure built per call
// escapes to the heap with its captured variables (allocations per
// datagram); the receive lock serialises its use.
type recvState struct {
	buf   []byte
	wait  bool
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func (st *recvState) init() {
	st.fn = func(fd uintptr) bool {
		// MSG_DONTWAIT: the call never blocks (the netpoller waits), so the
		// raw system call is safe, and it spares the runtime's entersyscall
		// and exitsyscall, which woke sysmon on every receive and cost the
		// reader twice the CPU of a C one (bench/README.md). MSG_TRUNC
		// makes recvfrom return the datagram's real length; no source
		// address is asked for, so nothing is allocated.
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(st.buf))), uintptr(len(st.buf)),
			unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		st.n, st.errno = int(r), e
		return !(st.wait && e == unix.EAGAIN)
	}
}

// setReadBuffer sets SO_RCVBUF, with SO_RCVBUFFORCE first so that
// net.core.rmem_max does not cap it, and returns what was granted.
func (s *socketSource) setReadBuffer(size int) (int, error) {
	var setErr error
	err := s.raw.Control(func(fd uintptr) {
		setErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		if setErr != nil { // EPERM without CAP_NET_ADMIN in the initial user namespace
			setErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
		}
	})
	if err == nil {
		err = setErr
	}
	if err != nil {
		return 0, err
	}
	return s.readBuffer()
}

// readBuffer returns the receive buffer size as the caller would ask for it:
// the kernel doubles the requested size for its bookkeeping and reports the
// doubled value.
func (s *socketSource) readBuffer() (int, error) {
	var (
		v      int
		getErr error
	)
	err := s.raw.Control(func(fd uintptr) {
		v, getErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if err == nil {
		err = getErr
	}
	if err != nil {
		return 0, err
	}
	return v / 2, nil
}

func (s *socketSource) growReadBuffer(max int) (bool, error) {
	cur, err := s.readBuffer()
	if err != nil || cur >= max {
		return false, err
	}
	next := min(cur*2, max)
	if _, err := s.setReadBuffer(next); err != nil {
		return false, err
	}
	return true, nil
}

func (s *socketSource) fd() int {
	fd := -1
	s.raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}

func (s *socketSource) portID() uint32 { return s.conn.PID() }
