package nflog

import (
	"context"
	"errors"
	"fmt"
)

// From a batch to the queue: receiving with the overrun policy, splitting a
// datagram into messages, decoding them, and counting what was lost.

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
	if r.watch != nil {
		if err := r.watch.takeFailure(); err != nil {
			// Before this batch's packets, whose names were looked up.
			r.push(entry{err: err})
			zc = nil
		}
	}
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
		err := r.dec.decodeRecord(body, b.origLen, b.swap, b.time, &r.scratch)
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
	// (decoding takes no other lock): a Packet is 520 bytes, and building
	// it on the stack and copying it in cost a tenth of Next.
	owned := cloneBytes(body)
	r.mu.Lock()
	r.pending = append(r.pending, entry{})
	e := &r.pending[len(r.pending)-1]
	if err := r.dec.decodeRecord(owned, b.origLen, b.swap, b.time, &e.p); err != nil {
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
	if p.Truncated {
		r.truncated.Add(1)
	}
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
