//go:build linux

package nflog

// Opening a live reader: the netlink socket is dialled, its options set
// (sockopt_linux.go) and each group bound (bind_linux.go); socketSource is
// the Reader's source on it (read loop in recv_linux.go, errors explained
// in errno_linux.go).

import (
	"context"
	"sync"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

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

// socketSource receives datagrams from the netlink socket. It reads through
// SyscallConn into the reader's one buffer rather than netlink.Conn.Receive,
// which (netlink v1.11.2, conn_linux.go: getBuffer) first peeks at each
// datagram's size with an extra MSG_PEEK|MSG_TRUNC recvmsg into a buffer
// it allocates, and whose reads (mdlayher/socket, conn.go: rwT) start a
// goroutine per call to watch a context without a deadline.
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

func (s *socketSource) fd() int {
	fd := -1
	s.raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}

func (s *socketSource) portID() uint32 { return s.conn.PID() }
