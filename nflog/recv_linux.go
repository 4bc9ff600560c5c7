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
	s.rd.buf, s.rd.wait, s.rd.waited = buf, wait, false
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
		now := time.Now()
		if s.rd.block {
			s.rd.sparse = now.Sub(s.rd.last) > sparseGap
			s.rd.last = now
		}
		if n > len(buf) {
			// Cannot happen with the kernel's batch sizes; keep what fits so
			// the loss is reported as a decode error, not silent.
			n = len(buf)
		}
		return batch{data: buf[:n], framed: true, time: now.Round(0)}, nil
	}
}

// sparseGap: a ReadBlocking receive waits in the kernel only when the last
// two datagrams came closer than this. A longer wait there is ended by
// sysmon's preemption signal (after 10 ms without a reschedule), and then
// waits in the netpoller anyway: with the signal and two more system calls
// it cost 1.8 times a netpoller wait at 50 datagrams a second
// (bench/README.md, "Blocking reads").
const sparseGap = 10 * time.Millisecond

// recvState is the callback handed to RawConn.Read and its results. It
// lives in the socketSource, built once, because a closure built per call
// escapes to the heap with its captured variables (allocations per
// datagram); the receive lock serialises its use.
type recvState struct {
	buf   []byte
	wait  bool
	block bool // ReadBlocking: the socket is blocking, with SO_RCVTIMEO
	// waited: this receive has waited once already (a signal ended its
	// wait in the kernel, or it parked in the netpoller); reset by each
	// receive.
	waited bool
	// sparse (ReadBlocking): the last two datagrams came more than
	// sparseGap apart, so the next receive waits in the netpoller, as
	// ReadNetpoll does; last is when the last one came.
	sparse bool
	last   time.Time
	n      int
	errno  syscall.Errno
	fn     func(fd uintptr) bool
}

func (st *recvState) init() {
	st.fn = func(fd uintptr) bool {
		// ReadBlocking: wait in the kernel, as the C reader does, still
		// through the raw call, which keeps the P: the runtime's blocking
		// path (entersyscall) hands the P off and keeps sysmon waking every
		// 20 µs at GOMAXPROCS=1, and the probe that read so cost 3.4 times
		// C at threshold 64, the raw one 1.0 (bench/README.md, "Blocking
		// reads").
		if st.block && st.wait && !st.waited && !st.sparse {
			r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
				uintptr(unsafe.Pointer(unsafe.SliceData(st.buf))), uintptr(len(st.buf)),
				unix.MSG_TRUNC, 0, 0)
			if e != unix.EINTR {
				st.n, st.errno = int(r), e
				return true
			}
			// A signal ended the wait: with SO_RCVTIMEO set the kernel does
			// not restart it. The runtime signals a thread it wants back:
			// a garbage collection, or sysmon, once a goroutine has run
			// 10 ms without rescheduling, which a wait in the kernel counts
			// as. So this receive gives the P up and waits in the
			// netpoller below (going back into the kernel, every other
			// goroutine and each collection waited for the next
			// preemption at GOMAXPROCS=1, 20 ms apart:
			// TestKernelBlockingKeepsRuntimeGoing).
			st.waited = true
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
		if st.wait && e == unix.EAGAIN {
			st.waited = true
			return false // wait in the netpoller
		}
		return true
	}
}
