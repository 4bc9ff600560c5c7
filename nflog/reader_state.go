package nflog

import "fmt"

// The Reader's state: what it is bound to, what it holds, what it counted,
// and its socket.

// Group returns the group the reader is bound to, as nflogr's getgroup
// does for its one group: for a reader of several groups (OpenGroups) the
// first of them, -1 for a capture file. Groups returns them all.
func (r *Reader) Group() int {
	if len(r.groups) == 0 {
		return -1
	}
	return r.groups[0]
}

// Groups returns every group the reader is bound to, in the order given to
// Open or OpenGroups (nil for a capture file). Packet.Group tells which of
// them logged a packet.
func (r *Reader) Groups() []int { return append([]int(nil), r.groups...) }

// Queued returns how many messages were received from the socket (by
// Queue, or by a read that received a batch of several) but not yet read,
// as nflogr's queued.
func (r *Reader) Queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) - r.head
}

// Stats are the reader's counters since Open. All but Overruns only grow;
// Overruns is nflogr's resettable drops (see Reader.ResetDrops).
type Stats struct {
	// Received counts messages decoded.
	Received uint64
	// Overruns counts ENOBUFS reports: each means the socket buffer
	// overflowed and one or more messages were dropped (nflogr's drops).
	Overruns uint64
	// Lost counts messages missing from the per-group sequence numbers: the
	// exact number dropped, wherever they were dropped. Needs FlagSequence.
	Lost uint64
	// DecodeErrors counts messages that could not be decoded.
	DecodeErrors uint64
	// BufferGrowths counts receive buffer growths (Config.MaxReadBufferSize).
	BufferGrowths uint64
	// Truncated counts packets of a capture file that its snap length cut
	// (Packet.Truncated): decoded, but missing their last attributes.
	Truncated uint64
	// Skipped counts the records of a capture file's interfaces that are
	// not NFLOG, which are not read (see ErrSkipped).
	Skipped uint64
	// NameWatchFailures is 1 once the follower of interface renames failed
	// and names are looked up per packet (see ErrNameWatch).
	NameWatchFailures uint64
}

// Stats returns every counter at once.
func (r *Reader) Stats() Stats {
	s := Stats{
		Received:      r.received.Load(),
		Overruns:      r.overruns.Load(),
		Lost:          r.lost.Load(),
		DecodeErrors:  r.decodeErrors.Load(),
		BufferGrowths: r.growths.Load(),
		Truncated:     r.truncated.Load(),
		Skipped:       r.skipped(),
	}
	if r.watch != nil {
		s.NameWatchFailures = r.watch.failures()
	}
	return s
}

func (r *Reader) skipped() uint64 {
	if f, ok := r.src.(*fileSource); ok {
		return f.skipped.Load()
	}
	return 0
}

// Drops returns Stats().Overruns under nflogr's name, drops: how many times
// the socket buffer overflowed (ENOBUFS). It counts overflows, not
// messages; Stats().Lost has the exact number of messages lost.
func (r *Reader) Drops() uint64 { return r.overruns.Load() }

// ResetDrops sets the overrun counter (Drops, Stats().Overruns) to zero and
// returns its old value, as nflogr lets its drops be reset. Overruns is the
// only counter that can go back: a program that computes rates from
// Stats().Overruns should not also call ResetDrops.
func (r *Reader) ResetDrops() uint64 { return r.overruns.Swap(0) }

// ReadBufferSize returns the socket receive buffer size in bytes, as
// granted by the kernel (which may cap it below what was asked for):
// nflogr's rcvbuf. A capture file has none (ErrNotSupported).
func (r *Reader) ReadBufferSize() (int, error) { return r.src.readBuffer() }

// SetReadBufferSize sets the socket receive buffer size in bytes (see
// Config.ReadBufferSize, which sets it at Open) and returns the size
// granted: nflogr's rcvbuf assignment.
func (r *Reader) SetReadBufferSize(size int) (int, error) {
	if size <= 0 || size > MaxReadBufferSize {
		return 0, &ConfigError{Field: "ReadBufferSize", Value: size, Reason: fmt.Sprintf("out of range 1-%d bytes", MaxReadBufferSize)}
	}
	return r.src.setReadBuffer(size)
}

// Fd returns the socket's file descriptor, as nflogr's getfd, e.g. for poll
// or epoll; -1 for a capture file or a closed reader. Reading from it
// directly bypasses the reader's accounting. With ReadBlocking it is a
// blocking descriptor.
func (r *Reader) Fd() int {
	if r.closed() {
		return -1
	}
	return r.src.fd()
}

// PortID returns the socket's netlink port id (0 for a capture file). It is
// how the kernel names the reader: the second column of
// /proc/net/netfilter/nfnetlink_log (the groups it holds), the Pid column of
// /proc/net/netlink (its receive queue and drops), and the port that an
// ErrGroupBusy error reports for a group another reader holds.
func (r *Reader) PortID() uint32 { return r.src.portID() }
