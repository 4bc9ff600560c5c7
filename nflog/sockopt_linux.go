//go:build linux

package nflog

// Socket options: NETLINK_NO_ENOBUFS and the receive buffer (SO_RCVBUF,
// SO_RCVBUFFORCE), set at open, on request and on overrun.

import (
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// setup applies the socket options.
func (s *socketSource) setup(c *Config) error {
	if c.OnOverrun == OverrunIgnore {
		if err := s.conn.SetOption(netlink.NoENOBUFS, true); err != nil {
			return &OpError{Op: "set NETLINK_NO_ENOBUFS", Group: -1, Err: err}
		}
	}
	if c.ReadMode == ReadBlocking {
		if err := s.makeBlocking(); err != nil {
			return &OpError{Op: "make the socket blocking", Group: -1, Err: err}
		}
	}
	if c.ReadBufferSize > 0 {
		if _, err := s.setReadBuffer(c.ReadBufferSize); err != nil {
			return &OpError{Op: "set receive buffer", Group: -1, Err: err}
		}
	}
	return nil
}

// makeBlocking prepares ReadBlocking: O_NONBLOCK off, so a recvfrom
// without MSG_DONTWAIT waits in the kernel, and SO_RCVTIMEO, which bounds
// that wait (Close and cancellation are checked between waits) and makes a
// signal end it with EINTR instead of restarting it. The netpoller keeps
// the descriptor registered but is never asked to wait on it.
func (s *socketSource) makeBlocking() error {
	var setErr error
	err := s.raw.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err == nil {
			_, err = unix.FcntlInt(fd, unix.F_SETFL, fl&^unix.O_NONBLOCK)
		}
		if err == nil {
			tv := unix.NsecToTimeval(BlockingReadTimeout.Nanoseconds())
			err = unix.SetsockoptTimeval(int(fd), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		}
		setErr = err
	})
	if err == nil {
		err = setErr
	}
	if err == nil {
		s.rd.block = true
	}
	return err
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
