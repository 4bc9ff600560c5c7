//go:build linux

package nflog

// The read loop: one recvfrom per datagram, non-blocking through the
// netpoller (ReadNetpoll) or blocking in the kernel (ReadBlocking), with
// context cancellation and the errnos a read can meet.

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
	s.rd.buf, s.rd.wait, s.rd.yielded = buf, wait, false
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
		case errno == unix.EAGAIN && wait && s.rd.block:
			// SO_RCVTIMEO expired: the next Read reports a close or a
			// cancelled context (its deadline), else the wait goes on.
			continue
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
	block bool // ReadBlocking: the socket is blocking, with SO_RCVTIMEO
	// yielded: a signal ended this receive's wait in the kernel; it waits
	// in the netpoller instead (reset by each receive).
	yielded bool
	n       int
	errno   syscall.Errno
	fn      func(fd uintptr) bool
}

func (st *recvState) init() {
	st.fn = func(fd uintptr) bool {
		// ReadBlocking: wait in the kernel, as the C reader does, still
		// through the raw call, which keeps the P: the runtime's blocking
		// path (entersyscall) hands the P off and keeps sysmon waking every
		// 20 µs at GOMAXPROCS=1, and the probe that read so cost 3.4 times
		// C at threshold 64, the raw one 1.0 (bench/README.md, "Blocking
		// reads").
		if st.block && st.wait && !st.yielded {
			r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
				uintptr(unsafe.Pointer(unsafe.SliceData(st.buf))), uintptr(len(st.buf)),
				unix.MSG_TRUNC, 0, 0)
			if e != unix.EINTR {
				st.n, st.errno = int(r), e
				return true
			}
			// A signal ended the wait: with SO_RCVTIMEO set the kernel does
			// not restart it. The runtime signals a thread it wants back
			// (a garbage collection, another goroutine due on this P), so
			// this receive gives the P up and waits in the netpoller
			// below; without that, at GOMAXPROCS=1, every other goroutine
			// and each collection waited for the next preemption, 20 ms
			// apart (TestKernelBlockingKeepsRuntimeGoing).
			st.yielded = true
		}
		// MSG_DONTWAIT: the call never blocks (the netpoller waits), so the
		// raw system call is safe, and it spares the runtime's entersyscall
		// and exitsyscall, which woke sysmon on every receive: the reader
		// cost 2.6 to 2.8 times the CPU of a C one (bench/README.md, "Where
		// the time went before the fixes"). MSG_TRUNC makes recvfrom return
		// the datagram's real length; no source address is asked for, so
		// nothing is allocated.
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(st.buf))), uintptr(len(st.buf)),
			unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		st.n, st.errno = int(r), e
		return !(st.wait && e == unix.EAGAIN)
	}
}
