package nflog

import (
	"context"
	"errors"
	"io"
	"iter"
)

// Reading: Next, TryNext, Queue, Loop and All, the queue of received
// messages they share, and the receive lock that serialises receiving.

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

// All returns an iterator over the packets, for range loops: nflogr's
// "for data in nflog". It ends when the reader is closed (after the queued
// packets), a capture file ends, or ctx ends (the context's error is
// yielded last). Temporary errors (see IsTemporary) are yielded and the
// iteration goes on. The packets own their memory.
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
