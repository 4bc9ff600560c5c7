package nflog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Reader reads logged packets from NFLOG groups (Open, OpenGroups) or from
// a capture file (OpenFile, NewFileReader), with the same methods. The
// package doc maps nflogr's names to them.
//
// A Reader is safe for concurrent use by multiple goroutines. Messages are
// handed out in the order the kernel sent them; each goes to exactly one
// caller. One goroutine at a time receives from the socket and decodes
// (holding the receive lock); the others wait for it, or take messages it
// queued.
//
// # Reading
//
// Next blocks for the next packet and TryNext does not; the packet owns its
// memory. All is Next as a range-over-func iterator. Loop hands packets to
// a callback, up to a count, without copying or allocating. Queue receives
// what the socket holds into the reader's queue and hands nothing out; the
// reads take from that queue first. A *DecodeError or an ErrOverrun error
// stands in the place of a message, and the reader goes on (IsTemporary).
//
// # State
//
// Stats counts what was received, lost and could not be decoded; Drops and
// ResetDrops are its overruns under nflogr's name. Queued counts what was
// received but not yet read. Group and Groups name the bound groups;
// ReadBufferSize and SetReadBufferSize get and set the socket's receive
// buffer; Fd and PortID identify the socket.
//
// # Lifecycle
//
// Close stops at once, losing what the kernel still holds in its batch;
// Shutdown unbinds the groups first, so the kernel sends it. Either way,
// blocked reads return, the messages already received stay readable, and
// then reads return ErrClosed.
type Reader struct {
	src    source
	groups []int
	cfg    Config

	recvLock  chan struct{} // a token: whoever holds it receives and decodes
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error

	// Guarded by recvLock.
	dec      decoder
	watch    nameWatch // dec's names, when they follow changes and can fail
	buf      []byte
	scratch  Packet            // the packet Loop hands to its callback
	nextSeq  map[uint16]uint32 // per group: the sequence number expected next
	seqGroup uint16            // the group whose expected number is in seqWant
	seqWant  uint32            // (not yet written back to nextSeq)
	seqValid bool

	mu      sync.Mutex // guards pending
	pending []entry    // received, decoded, not yet read
	head    int

	received, overruns, lost, decodeErrors, growths, truncated atomic.Uint64
}

// entry is a queued message or the error met in its place, kept in order.
type entry struct {
	p   Packet
	err error
}

// nameWatch is a nameResolver that follows changes and can fail
// (interfaceNames on Linux): the reader hands the failure out once, in the
// stream, and counts it.
type nameWatch interface {
	takeFailure() error
	failures() uint64
}

func newReader(src source, groups []int, cfg Config, names nameResolver) *Reader {
	watch, _ := names.(nameWatch)
	return &Reader{
		watch:    watch,
		src:      src,
		groups:   groups,
		cfg:      cfg,
		recvLock: make(chan struct{}, 1),
		done:     make(chan struct{}),
		dec:      decoder{names: names},
		buf:      make([]byte, src.bufferSize()),
		nextSeq:  make(map[uint16]uint32),
	}
}

// Close closes the reader at once, as nflogr's close: blocked reads return,
// and closing the socket unbinds its groups. The packets the kernel still
// holds in its batch (see Config.QueueThreshold and FlushTimeout) are lost;
// Shutdown gets them first. Messages already received can still be read.
// Close is idempotent and returns the first close's error.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		close(r.done)
		r.closeErr = r.src.close()
	})
	return r.closeErr
}

func (r *Reader) closed() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// requestTimeout bounds the wait for the receive lock and the kernel's
// answer to a request (bind, unbind); the kernel answers at once, so this
// only guards against a hang.
const requestTimeout = 5 * time.Second

// request runs a request of the source under the receive lock. send sends
// it and calls pump until the answer came: pump receives one batch and
// queues its packets (another group of the socket may already be bound, so
// packets can arrive before the answer; they are queued, not lost).
func (r *Reader) request(parent context.Context, send func(pump func() error) error) error {
	ctx, cancel := context.WithTimeout(parent, requestTimeout)
	defer cancel()
	if err := r.lock(ctx); err != nil {
		return err
	}
	defer r.unlock()
	return send(func() error {
		for {
			b, err := r.receive(ctx, true)
			if errors.Is(err, ErrOverrun) {
				continue // counted; packets of groups bound earlier were lost, not the answer
			}
			if err != nil {
				if parent.Err() != nil {
					return parent.Err()
				}
				if ctx.Err() != nil {
					return fmt.Errorf("no acknowledgement from the kernel within %v", requestTimeout)
				}
				return err
			}
			r.dispatch(b, nil)
			return nil
		}
	})
}

// Shutdown is Close without losing the kernel's last batch: it unbinds
// every group, which makes the kernel send the packets it still holds (up
// to FlushTimeout's worth), queues them, and then closes the reader. The
// queued packets stay readable (Next, TryNext, Loop, All) until ErrClosed.
// It waits for the receive lock, so stop other readers first (cancel their
// contexts); ctx bounds the wait. For a capture file it is Close.
func (r *Reader) Shutdown(ctx context.Context) error {
	if r.closed() {
		return r.Close()
	}
	var errs []error
	for _, g := range r.groups {
		err := r.request(ctx, func(pump func() error) error { return r.src.unbind(g, pump) })
		if err != nil {
			errs = append(errs, &OpError{Op: "unbind", Group: g, Err: err})
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				break // the others would wait just as long
			}
		}
	}
	return errors.Join(append(errs, r.Close())...)
}
