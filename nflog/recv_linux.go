//go:build linux

package nflog

// The read loop: one non-blocking recvfrom per datagram through the
// netpoller, with context cancellation and the errnos a read can meet.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvBufferSize is the receive buffer of a live reader. The kernel fills a
// batch until the next message no longer fits the tail room of its socket
// buffer, which the allocator rounds up: with NetlinkBufferSize 128 KiB a
// datagram can approach 256 KiB. A larger datagram is cut and counted as a
// decode error.
const recvBufferSize = 512 << 10

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
		// and exitsyscall, which woke sysmon on every receive: the reader
		// cost 2.6 to 2.8 times the CPU of a C one (bench/README.md, "Where
		// the time went before the fixes"). MSG_TRUNC
		// makes recvfrom return the datagram's real length; no source
		// address is asked for, so nothing is allocated.
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(st.buf))), uintptr(len(st.buf)),
			unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		st.n, st.errno = int(r), e
		return !(st.wait && e == unix.EAGAIN)
	}
}
