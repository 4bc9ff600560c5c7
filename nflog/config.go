package nflog

import (
	"fmt"
	"time"
)

// CopyMode says how much of each packet the kernel copies to the reader.
// The zero value is CopyPacket, nflogr's default.
type CopyMode uint8

const (
	// CopyPacket copies metadata and the packet, up to Config.CopyRange.
	CopyPacket CopyMode = iota
	// CopyMeta copies metadata only: no payload.
	CopyMeta
	// CopyNone asks the kernel to send nothing. A reader in this mode
	// receives no messages; it exists for parity with the kernel API.
	CopyNone
)

func (m CopyMode) String() string {
	switch m {
	case CopyPacket:
		return "packet"
	case CopyMeta:
		return "meta"
	case CopyNone:
		return "none"
	}
	return fmt.Sprintf("CopyMode(%d)", uint8(m))
}

func (m CopyMode) kernel() uint8 {
	switch m {
	case CopyMeta:
		return kernelCopyMeta
	case CopyNone:
		return kernelCopyNone
	}
	return kernelCopyPacket
}

// Flags ask the kernel for optional attributes.
type Flags uint16

const (
	FlagSequence       Flags = 0x1 // NFULNL_CFG_F_SEQ: per-group sequence numbers; enables loss counting
	FlagGlobalSequence Flags = 0x2 // NFULNL_CFG_F_SEQ_GLOBAL: per-namespace sequence numbers
	FlagConntrack      Flags = 0x4 // NFULNL_CFG_F_CONNTRACK: conntrack entry (needs nf_conntrack_netlink)
)

// OverrunPolicy says what a read does when the socket receive buffer
// overflowed (ENOBUFS). The zero value is OverrunError, nflogr's default.
type OverrunPolicy uint8

const (
	// OverrunError returns an error wrapping ErrOverrun from the read that
	// met it, and counts it. The reader stays usable.
	OverrunError OverrunPolicy = iota
	// OverrunCount counts the overrun in Stats.Overruns and goes on.
	OverrunCount
	// OverrunIgnore sets NETLINK_NO_ENOBUFS: the kernel stops reporting
	// overruns. Losses are then visible only through sequence gaps
	// (FlagSequence).
	OverrunIgnore
)

func (o OverrunPolicy) String() string {
	switch o {
	case OverrunError:
		return "error"
	case OverrunCount:
		return "count"
	case OverrunIgnore:
		return "ignore"
	}
	return fmt.Sprintf("OverrunPolicy(%d)", uint8(o))
}

// ReadMode says how a live reader waits for the kernel's next datagram.
// The zero value is ReadNetpoll. A capture file ignores it.
type ReadMode uint8

const (
	// ReadNetpoll waits in the Go runtime's netpoller, like any Go socket:
	// a blocked read holds no thread and no P, so any number of readers and
	// goroutines share the process. Each wait costs an EAGAIN recvfrom, an
	// epoll_wait and a wake-up, which is what puts a Go reader above C's
	// single blocking recv(2) when the reader keeps up with the kernel
	// (bench/README.md, "Blocking reads").
	ReadNetpoll ReadMode = iota
	// ReadBlocking waits inside recvfrom(2), as the C reader does, while
	// datagrams come less than 10 ms apart: the socket is made blocking,
	// with a receive timeout (BlockingReadTimeout) so that Close and a
	// cancelled context are seen within it. The call is raw, so while it
	// waits the goroutine keeps its P (one of GOMAXPROCS) and its thread.
	// Signals end the wait (SO_RCVTIMEO makes recvfrom return EINTR rather
	// than restart), and the read then waits in the netpoller: the
	// runtime's own, to stop the world for a garbage collection, and
	// sysmon's preemption after 10-20 ms in the kernel, whether or not
	// another goroutine waits for the P. Other goroutines on that P may
	// so wait up to 20 ms. After a gap of more than 10 ms between
	// datagrams, reads wait in the netpoller, as ReadNetpoll does, until
	// two come close together again. With GODEBUG=asyncpreemptoff=1 no
	// signal comes and a collection waits up to the timeout. Use it for a
	// process that does little but read, such as the execd binary; keep
	// ReadNetpoll in a process with many goroutines or readers. The
	// descriptor (Reader.Fd) is blocking in this mode.
	ReadBlocking
)

// BlockingReadTimeout bounds one wait of a ReadBlocking reader in the
// kernel, so that Close and context cancellation take effect within it.
// Only without the runtime's signals (GODEBUG=asyncpreemptoff=1) does a
// wait last that long; otherwise sysmon ends it after 10-20 ms.
const BlockingReadTimeout = 100 * time.Millisecond

func (m ReadMode) String() string {
	switch m {
	case ReadNetpoll:
		return "netpoll"
	case ReadBlocking:
		return "blocking"
	}
	return fmt.Sprintf("ReadMode(%d)", uint8(m))
}

// Config holds the options of Open. The zero value gives nflogr's defaults:
// flush timeout 0, queue threshold 1, copy whole packets, system default
// buffers, overruns returned as errors.
type Config struct {
	// FlushTimeout is how long the kernel may hold logged packets before
	// sending a batch, in steps of 10 ms (rounded up), at most 42949672.95 s.
	// It is always sent, so the kernel's 1 s default never applies.
	FlushTimeout time.Duration

	// QueueThreshold is how many packets the kernel batches before sending
	// (0 and 1 both mean one message per packet). A rule's
	// --nflog-threshold overrides it for that rule's packets when smaller.
	// It is always sent, so the kernel's default of 100 never applies.
	QueueThreshold uint32

	// ReadBufferSize is the socket receive buffer in bytes (0: the system
	// default; at most 2^30-1). It is set with SO_RCVBUFFORCE, falling back
	// to SO_RCVBUF (capped by net.core.rmem_max) when that is refused; use
	// Reader.ReadBufferSize to see what was granted.
	ReadBufferSize int

	// MaxReadBufferSize, when larger than ReadBufferSize, lets the reader
	// double its receive buffer on each overrun up to this size, as ulogd2
	// does. Each growth is counted in Stats.BufferGrowths. 0 means never;
	// a size below ReadBufferSize is rejected.
	MaxReadBufferSize int

	// NetlinkBufferSize is the kernel's batch buffer per group
	// (NFULA_CFG_NLBUFSIZ): 0 for the default (one page), or 4096 to
	// 131072 bytes. The kernel silently ignores other values, so they are
	// rejected here.
	NetlinkBufferSize uint32

	// CopyMode and CopyRange (the snap length: 0 for the kernel's maximum
	// of 65531 bytes) select how much of each packet is copied.
	CopyMode  CopyMode
	CopyRange uint32

	// Flags ask for sequence numbers and conntrack data.
	Flags Flags

	// NetNS is an open file descriptor of the network namespace to read in
	// (e.g. of /run/netns/NAME); 0 means the caller's namespace. The reader
	// does not close it.
	NetNS int

	// OnOverrun is the ENOBUFS policy.
	OnOverrun OverrunPolicy

	// ReadMode selects how a read waits for the kernel: in the netpoller
	// (the default) or blocked in recvfrom(2). See ReadBlocking for the
	// trade-off.
	ReadMode ReadMode

	// DisableInterfaceNames stops the reader from resolving interface
	// names (it then opens no rtnetlink socket); the *Name fields stay
	// empty.
	DisableInterfaceNames bool
}

// Limits of the options, as nflogr and the kernel define them.
const (
	MaxGroup          = 65535
	MaxFlushTimeout   = 4294967295 * 10 * time.Millisecond // a be32 count of 1/100 s
	MaxReadBufferSize = 1<<30 - 1
	MaxCopyRange      = copyRangeMax
	// NetlinkBufferSize is 0 (the kernel's default) or within these.
	MinNetlinkBufferSize = nlbufsizMin
	MaxNetlinkBufferSize = nlbufsizMax
)

// timeoutTicks converts FlushTimeout to the kernel's hundredths of a second,
// rounding up so that a non-zero timeout never becomes 0.
func (c *Config) timeoutTicks() uint32 {
	const tick = 10 * time.Millisecond
	return uint32((c.FlushTimeout + tick - 1) / tick)
}

// Validate checks every option, and the groups, against their ranges as
// Open does. The error is a *ConfigError naming the first field that is
// wrong and its allowed range; it wraps ErrInvalidConfig. The kernel would
// silently ignore some of these values.
func (c *Config) Validate(groups []int) error {
	bad := func(field string, value any, reason string, args ...any) error {
		return &ConfigError{Field: field, Value: value, Reason: fmt.Sprintf(reason, args...)}
	}
	if len(groups) == 0 {
		return bad("Groups", nil, "no group given: pass at least one NFLOG group (0-%d)", MaxGroup)
	}
	seen := make(map[int]bool, len(groups))
	for _, g := range groups {
		if g < 0 || g > MaxGroup {
			return bad("Groups", g, "out of range: NFLOG groups are 0-%d (iptables --nflog-group, nft log group)", MaxGroup)
		}
		if seen[g] {
			return bad("Groups", g, "listed twice")
		}
		seen[g] = true
	}
	if c.FlushTimeout < 0 || c.FlushTimeout > MaxFlushTimeout {
		return bad("FlushTimeout", c.FlushTimeout, "out of range 0-%v", MaxFlushTimeout)
	}
	if c.ReadBufferSize < 0 || c.ReadBufferSize > MaxReadBufferSize {
		return bad("ReadBufferSize", c.ReadBufferSize, "out of range 0-%d bytes (0 means the system default)", MaxReadBufferSize)
	}
	if c.MaxReadBufferSize < 0 || c.MaxReadBufferSize > MaxReadBufferSize {
		return bad("MaxReadBufferSize", c.MaxReadBufferSize, "out of range 0-%d bytes (0 means never grow)", MaxReadBufferSize)
	}
	if c.MaxReadBufferSize != 0 && c.MaxReadBufferSize < c.ReadBufferSize {
		return bad("MaxReadBufferSize", c.MaxReadBufferSize, "smaller than the read buffer size (%d bytes): raise it, or use 0 to never grow the buffer", c.ReadBufferSize)
	}
	if c.NetlinkBufferSize != 0 && (c.NetlinkBufferSize < nlbufsizMin || c.NetlinkBufferSize > nlbufsizMax) {
		return bad("NetlinkBufferSize", c.NetlinkBufferSize, "out of range: use 0 (the kernel's default, one page) or %d-%d bytes; the kernel silently ignores other values", nlbufsizMin, nlbufsizMax)
	}
	if c.CopyMode > CopyNone {
		return bad("CopyMode", c.CopyMode, "unknown: use CopyPacket, CopyMeta or CopyNone")
	}
	if c.CopyRange > MaxCopyRange {
		return bad("CopyRange", c.CopyRange, "out of range 0-%d bytes (0 means the maximum)", MaxCopyRange)
	}
	if c.Flags&^flagsKnownMask != 0 {
		return bad("Flags", c.Flags, "invalid, it holds unknown bits %#x: use FlagSequence, FlagGlobalSequence, FlagConntrack", uint16(c.Flags&^flagsKnownMask))
	}
	if c.OnOverrun > OverrunIgnore {
		return bad("OnOverrun", c.OnOverrun, "unknown: use OverrunError, OverrunCount or OverrunIgnore")
	}
	if c.ReadMode > ReadBlocking {
		return bad("ReadMode", c.ReadMode, "unknown: use ReadNetpoll or ReadBlocking")
	}
	if c.NetNS < 0 {
		return bad("NetNS", c.NetNS, "negative: use an open file descriptor of a network namespace, or 0 for the caller's")
	}
	return nil
}
