package nflog

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// source is where a Reader's messages come from: the netlink socket
// (socketSource, Linux) or a capture file (fileSource). The Reader is
// written against this interface only, so it builds and reads captures on
// every platform; what only a socket can do, a capture file answers with
// notASocket's methods.
//
// receive, unbind and answer are called with the reader's receive lock
// held, so they may keep state without locking; the others may be called
// at any time, from any goroutine.
type source interface {
	// receive reads one batch into buf. With wait false it returns
	// ErrWouldBlock when nothing is waiting. For a socket, cancelling ctx
	// or close unblocks it; a capture file's reader is read as it comes.
	// An overrun is reported as errENOBUFS.
	receive(ctx context.Context, buf []byte, wait bool) (batch, error)
	// bufferSize is how large receive's buffer must be.
	bufferSize() int
	// seqFromZero: sequence numbers start at 0 (a live bind), so a gap
	// before the first message is a loss too.
	seqFromZero() bool

	// unbind asks the kernel to unbind group, which makes it send the
	// batch it still holds, and waits for the answer; pump receives and
	// queues one batch (the packets that arrive meanwhile).
	unbind(group int, pump func() error) error
	// answer is offered every NLMSG_ERROR the reader meets: it reports
	// whether seq answers a request of the source (taking err as the
	// answer), or is a stray error the reader must hand out.
	answer(seq uint32, err error) bool

	// readBuffer and setReadBuffer get and set the socket receive buffer
	// (SO_RCVBUF) as the caller asks for it; setReadBuffer returns the
	// size granted. growReadBuffer doubles it up to max and reports
	// whether it grew.
	readBuffer() (int, error)
	setReadBuffer(size int) (int, error)
	growReadBuffer(max int) (bool, error)
	// fd is the socket's descriptor and portID its netlink port id; -1 and
	// 0 without a socket.
	fd() int
	portID() uint32

	// close releases the source and unblocks a blocked receive.
	close() error
}

// batch is what one receive returned.
type batch struct {
	data   []byte    // a datagram of netlink messages, or one capture record
	framed bool      // data holds netlink messages (a datagram), not one body
	swap   bool      // attribute headers are in the other byte order
	time   time.Time // when it was received (or recorded)
	// origLen is set when a capture's snap length cut the record: the
	// message's length before the cut, more than len(data).
	origLen int
}

// errENOBUFS is how a source reports an overrun to the reader, which applies
// the policy.
var errENOBUFS = errors.New("ENOBUFS")

// errNoSocket is what the socket's operations return for a capture file.
var errNoSocket = fmt.Errorf("nflog: %w: a capture file has no socket", ErrNotSupported)

// notASocket is embedded by the sources that have no kernel socket (a
// capture file, the tests' fakes): no groups to unbind, no requests to
// answer, no socket buffer, descriptor or port.
type notASocket struct{}

func (notASocket) unbind(int, func() error) error   { return nil }
func (notASocket) answer(uint32, error) bool        { return false }
func (notASocket) readBuffer() (int, error)         { return 0, errNoSocket }
func (notASocket) setReadBuffer(int) (int, error)   { return 0, errNoSocket }
func (notASocket) growReadBuffer(int) (bool, error) { return false, nil }
func (notASocket) fd() int                          { return -1 }
func (notASocket) portID() uint32                   { return 0 }
