package nflog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"time"
)

// Reader reads logged packets from one or more NFLOG groups, or from a
// capture file (OpenFile). Open one with Open, OpenGroups or OpenFile.
//
// A Reader is safe for concurrent use by multiple goroutines. Messages are
// handed out in the order the kernel sent them; each goes to exactly one
// caller. One goroutine at a time receives from the socket and decodes
// (holding the receive lock); the others wait for it, or take messages it
// queued.
//
// Close unblocks every blocked read at once. Messages already received stay
// readable after Close; then reads return ErrClosed.
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
	buf      []byte
	scratch  Packet            // the packet Loop hands to its callback
	nextSeq  map[uint16]uint32 // per group: the sequence number expected next
	seqGroup uint16            // the group whose expected number is in seqWant
	seqWant  uint32            // (not yet written back to nextSeq)
	seqValid bool

	mu      sync.Mutex // guards pending
	pending []entry    // received, decoded, not yet read
	head    int

	received, overruns, lost, decodeErrors, growths atomic.Uint64
}

// entry is a queued message or the error met in its place, kept in order.
type entry struct {
	p   Packet
	err error
}

func newReader(src source, groups []int, cfg Config, names nameResolver) *Reader {
	return &Reader{
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

// Groups returns the groups the reader is bound to (nil for a file).
func (r *Reader) Groups() []int { return append([]int(nil), r.groups...) }

// Group returns the first group the reader is bound to, -1 for a file.
func (r *Reader) Group() int {
	if len(r.groups) == 0 {
		return -1
	}
	return r.groups[0]
}

// Queued returns how many messages were received but not yet read.
func (r *Reader) Queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) - r.head
}

// Stats are the reader's counters since Open.
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
}

// Stats returns the counters.
func (r *Reader) Stats() Stats {
	return Stats{
		Received:      r.received.Load(),
		Overruns:      r.overruns.Load(),
		Lost:          r.lost.Load(),
		DecodeErrors:  r.decodeErrors.Load(),
		BufferGrowths: r.growths.Load(),
	}
}

// Drops returns the number of overruns (ENOBUFS) seen, as nflogr's drops.
func (r *Reader) Drops() uint64 { return r.overruns.Load() }

// ResetDrops sets the overrun counter, which Stats().Overruns also
// reports, to zero and returns its old value.
func (r *Reader) ResetDrops() uint64 { return r.overruns.Swap(0) }

// Close closes the reader: blocked reads return at once, the group is
// unbound (closing the socket unbinds it). Messages already received can
// still be read. Close is idempotent and returns the first close's error.
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

// lock takes the receive lock, giving up when ctx ends or the reader closes.
func (r *Reader) lock(ctx context.Context) error {
	select {
	case r.recvLock <- struct{}{}:
	case <-r.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	if r.closed() {
		r.unlock()
		return ErrClosed
	}
	return nil
}

// tryLock takes the receive lock if it is free: the non-blocking reads
// must not wait behind a reader blocked in the socket.
func (r *Reader) tryLock() error {
	if r.closed() {
		return ErrClosed
	}
	select {
	case r.recvLock <- struct{}{}:
	default:
		return ErrWouldBlock
	}
	if r.closed() {
		r.unlock()
		return ErrClosed
	}
	return nil
}

// lockFor takes the receive lock, waiting only when wait is set.
func (r *Reader) lockFor(ctx context.Context, wait bool) error {
	if wait {
		return r.lock(ctx)
	}
	return r.tryLock()
}

func (r *Reader) unlock() { <-r.recvLock }

// pop moves the oldest queued entry into *p (a copy of the packet, but
// none of the whole entry) and returns its error; false when the queue is
// empty.
func (r *Reader) pop(p *Packet) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.head == len(r.pending) {
		return false, nil
	}
	e := &r.pending[r.head]
	*p = e.p
	err := e.err
	*e = entry{} // let the packet's memory go
	r.head++
	if r.head == len(r.pending) {
		r.pending, r.head = r.pending[:0], 0
	}
	return true, err
}

func (r *Reader) push(e entry) {
	r.mu.Lock()
	r.pending = append(r.pending, e)
	r.mu.Unlock()
}

// Next returns the next packet, blocking until one arrives, ctx ends or the
// reader is closed. The packet owns its memory. A *DecodeError or an
// ErrOverrun error stands in the place of a message; the reader stays usable
// (see IsTemporary).
func (r *Reader) Next(ctx context.Context) (p Packet, err error) {
	for {
		if ok, err := r.pop(&p); ok {
			return p, err
		}
		if err := r.fill(ctx, true); err != nil {
			if ok, err := r.pop(&p); ok { // queued by another goroutine meanwhile
				return p, err
			}
			return Packet{}, err
		}
	}
}

// TryNext is Next without blocking: it returns ErrWouldBlock when no
// message is waiting, or when another goroutine is receiving.
func (r *Reader) TryNext() (p Packet, err error) {
	if ok, err := r.pop(&p); ok {
		return p, err
	}
	if err := r.fill(context.Background(), false); err != nil && !errors.Is(err, ErrWouldBlock) {
		return Packet{}, err
	}
	if ok, err := r.pop(&p); ok {
		return p, err
	}
	return Packet{}, ErrWouldBlock
}

// fill receives until at least one entry is queued.
func (r *Reader) fill(ctx context.Context, wait bool) error {
	if err := r.lockFor(ctx, wait); err != nil {
		return err
	}
	defer r.unlock()
	for r.Queued() == 0 {
		b, err := r.receive(ctx, wait)
		if err != nil {
			return err
		}
		r.dispatch(b, nil)
	}
	return nil
}

// Queue receives every message the socket holds now into the reader's
// queue and returns how many it queued. With wait it first blocks until
// something arrives; without, it returns 0 at once when another goroutine
// is receiving. Read the queued messages with Next, TryNext, Loop or All.
func (r *Reader) Queue(ctx context.Context, wait bool) (int, error) {
	if err := r.lockFor(ctx, wait); err != nil {
		if errors.Is(err, ErrWouldBlock) {
			return 0, nil // another goroutine is receiving
		}
		return 0, err
	}
	defer r.unlock()
	before := r.Queued()
	for {
		b, err := r.receive(ctx, wait)
		if errors.Is(err, ErrWouldBlock) {
			break
		}
		if err != nil {
			return r.Queued() - before, err
		}
		r.dispatch(b, nil)
		wait = false
	}
	return r.Queued() - before, nil
}

// Loop hands packets to fn until count packets were handled (count < 0: no
// limit), fn returns an error, ctx ends or the reader is closed.
//
// This is the fast path: the *Packet is reused and its byte slices point into
// the receive buffer, valid only until fn returns (Clone it to keep it).
// Decoding does not allocate. fn runs with the receive lock held: it must not
// call the reader's read methods, and a slow fn delays other readers.
//
// Loop returns nil when count is reached, fn's error, or the first error met
// in the stream (a *DecodeError or an ErrOverrun error, after which Loop may
// be called again, or ErrClosed, or ctx's error).
func (r *Reader) Loop(ctx context.Context, count int, fn func(*Packet) error) error {
	handled := 0
	var p Packet
	for count < 0 || handled < count {
		// Messages queued earlier go first, to keep the kernel's order.
		if ok, err := r.pop(&p); ok {
			if err != nil {
				return err
			}
			if err := fn(&p); err != nil {
				return err
			}
			handled++
			continue
		}
		if err := r.lock(ctx); err != nil {
			if r.Queued() > 0 {
				continue
			}
			return err
		}
		err := r.loopLocked(ctx, count, &handled, fn)
		r.unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) loopLocked(ctx context.Context, count int, handled *int, fn func(*Packet) error) error {
	var stop error
	zc := func(p *Packet) bool {
		if err := fn(p); err != nil {
			stop = err
			return false
		}
		*handled++
		return count < 0 || *handled < count
	}
	for r.Queued() == 0 && stop == nil && (count < 0 || *handled < count) {
		b, err := r.receive(ctx, true)
		if err != nil {
			return err
		}
		r.dispatch(b, zc)
	}
	return stop
}

// All returns an iterator over the packets, for range loops. It ends
// when the reader is closed (after the queued packets), a capture file ends,
// or ctx ends (the
// context's error is yielded last). Temporary errors (see IsTemporary) are
// yielded and the iteration goes on. The packets own their memory.
func (r *Reader) All(ctx context.Context) iter.Seq2[Packet, error] {
	return func(yield func(Packet, error) bool) {
		for {
			p, err := r.Next(ctx)
			switch {
			case err == nil:
				if !yield(p, nil) {
					return
				}
			case errors.Is(err, ErrClosed), errors.Is(err, io.EOF):
				return
			case IsTemporary(err):
				if !yield(p, err) {
					return
				}
			default:
				yield(p, err)
				return
			}
		}
	}
}

// receive reads one batch, applying the overrun policy. Called with the
// receive lock held.
func (r *Reader) receive(ctx context.Context, wait bool) (batch, error) {
	for {
		if r.closed() {
			return batch{}, ErrClosed
		}
		b, err := r.src.receive(ctx, r.buf, wait)
		if err == nil {
			return b, nil
		}
		if r.closed() {
			// Close closes done before the socket, so whatever error the
			// interrupted read returned ("use of closed file" from the
			// poller, which is not os.ErrClosed), this is why.
			return batch{}, ErrClosed
		}
		if !errors.Is(err, errENOBUFS) {
			return batch{}, err
		}
		r.overruns.Add(1)
		r.growBuffer()
		if r.cfg.OnOverrun == OverrunError {
			return batch{}, &OpError{Op: "receive", Group: r.Group(), Err: fmt.Errorf("%w: %w", ErrOverrun, err)}
		}
	}
}

func (r *Reader) growBuffer() {
	if r.cfg.MaxReadBufferSize == 0 {
		return
	}
	if grown, err := r.src.growReadBuffer(r.cfg.MaxReadBufferSize); grown && err == nil {
		r.growths.Add(1)
	}
}

// dispatch decodes the messages of a batch. With zc nil, each becomes an
// owned entry in the queue. Otherwise each is decoded in place into the
// scratch packet and passed to zc; once zc returns false, the rest are
// queued as owned entries. Called with the receive lock held.
func (r *Reader) dispatch(b batch, zc func(*Packet) bool) {
	if !b.framed {
		r.message(b.data, b, &zc)
		return
	}
	it := nlmsgIter{b: b.data}
	for it.next() {
		m := it.msg
		switch m.typ {
		case nfulnlMsgPacket:
			r.message(m.body, b, &zc)
		case nlmsgDone, nlmsgNoop:
			// The kernel ends a batch of several messages with DONE (flags 0):
			// neither an error nor the end of the stream.
		case nlmsgError:
			r.errorMessage(m)
		case nlmsgOverrun:
			r.overruns.Add(1)
		default:
			r.decodeErrors.Add(1)
			r.push(entry{err: &DecodeError{Raw: cloneBytes(m.body), Err: fmt.Errorf("%w: unexpected netlink message type %#x", ErrMalformed, m.typ)}})
		}
	}
	if it.err != nil {
		r.decodeErrors.Add(1)
		r.push(entry{err: &DecodeError{Raw: cloneBytes(it.b), Err: it.err}})
	}
}

// message decodes one message body. While *zc is set, in place; after, as a
// copy that owns its memory (one allocation).
func (r *Reader) message(body []byte, b batch, zc *func(*Packet) bool) {
	if *zc != nil {
		err := r.dec.decode(body, b.swap, b.time, &r.scratch)
		if err == nil {
			r.account(&r.scratch)
			if !(*zc)(&r.scratch) {
				*zc = nil
			}
			return
		}
		r.decodeErrors.Add(1)
		r.push(entry{err: &DecodeError{Raw: cloneBytes(body), Err: err}})
		*zc = nil // stop handing out: the error must be read in its place
		return
	}
	// Decoded straight into its place in the queue, under the queue's lock
	// (decoding takes no other lock): a Packet is 504 bytes, and building
	// it on the stack and copying it in cost a tenth of Next.
	owned := cloneBytes(body)
	r.mu.Lock()
	r.pending = append(r.pending, entry{})
	e := &r.pending[len(r.pending)-1]
	if err := r.dec.decode(owned, b.swap, b.time, &e.p); err != nil {
		r.decodeErrors.Add(1)
		*e = entry{err: &DecodeError{Raw: owned, Err: err}}
	} else {
		r.account(&e.p)
	}
	r.mu.Unlock()
}

// account counts a decoded packet and any sequence gap before it.
func (r *Reader) account(p *Packet) {
	r.received.Add(1)
	if !p.Has(AttrSeq) {
		return
	}
	// Consecutive messages nearly always belong to the same group: keep its
	// expected number at hand rather than in the map (BenchmarkLoop: 55 ns
	// a message with this, 68 with a map lookup and store per message).
	if r.seqGroup != p.Group || !r.seqValid {
		if r.seqValid {
			r.nextSeq[r.seqGroup] = r.seqWant
		}
		want, seen := r.nextSeq[p.Group]
		if !seen && !r.src.seqFromZero() {
			want = p.Seq
		}
		r.seqGroup, r.seqWant, r.seqValid = p.Group, want, true
	}
	gap := p.Seq - r.seqWant
	if gap >= 1<<31 { // behind the expected number: reordered or duplicated
		return
	}
	if gap != 0 {
		r.lost.Add(uint64(gap))
	}
	r.seqWant = p.Seq + 1
}

// errorMessage handles NLMSG_ERROR: the answer to a request of the source
// (see request), or a stray error, which is queued in the stream.
func (r *Reader) errorMessage(m nlmsg) {
	var errno int32
	if len(m.body) >= 4 {
		errno = int32(nativeUint32(m.body))
	}
	if r.src.answer(m.seq, errnoError(-errno)) {
		return
	}
	if errno != 0 {
		r.push(entry{err: &OpError{Op: "receive", Group: r.Group(), Err: errnoError(-errno)}})
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
					return fmt.Errorf("no answer from the kernel within %v", requestTimeout)
				}
				return err
			}
			r.dispatch(b, nil)
			return nil
		}
	})
}

// Shutdown unbinds every group, which makes the kernel send the packets it
// still holds in its batch (up to FlushTimeout's worth), queues them, and
// closes the reader. The queued packets stay readable (Next, TryNext, Loop,
// All) until ErrClosed. Use it instead of Close to stop without losing the
// last batch. It waits for the receive lock, so stop other readers first
// (cancel their contexts); ctx bounds the wait.
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

// ReadBufferSize returns the socket receive buffer size in bytes, as
// granted by the kernel (which may cap it below what was asked for).
func (r *Reader) ReadBufferSize() (int, error) { return r.src.readBuffer() }

// SetReadBufferSize sets the socket receive buffer size in bytes (see
// Config.ReadBufferSize) and returns the size granted.
func (r *Reader) SetReadBufferSize(size int) (int, error) {
	if size <= 0 || size > MaxReadBufferSize {
		return 0, invalid("read buffer size %d is out of range 1-%d bytes", size, MaxReadBufferSize)
	}
	return r.src.setReadBuffer(size)
}

// Fd returns the socket's file descriptor, e.g. for poll or epoll, or -1
// for a file or a closed reader. Reading from it directly bypasses the
// reader's accounting.
func (r *Reader) Fd() int {
	if r.closed() {
		return -1
	}
	return r.src.fd()
}

// PortID returns the socket's netlink port id, as listed in
// /proc/net/netfilter/nfnetlink_log (0 for a file).
func (r *Reader) PortID() uint32 { return r.src.portID() }
