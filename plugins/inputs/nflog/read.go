//go:build linux

package nflog

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// errStopping ends Reader.Loop from the callback once Stop was called, so
// that a flood queued in the receive buffer is not processed to its end.
var errStopping = errors.New("stopping")

func (n *NFLOG) openSocket() (*nflog.Reader, error) {
	cfg := n.cfg
	if n.netnsPath != "" {
		f, err := os.Open(n.netnsPath)
		if err != nil {
			// Without the *PathError, which holds the path raw.
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("opening network namespace %q of netns = %q: %w (create it with \"ip netns add\" or fix the path)",
				n.netnsPath, n.Netns, err)
		}
		n.netnsFD = f
		cfg.NetNS = int(f.Fd())
	}
	r, err := nflog.OpenGroups(n.Groups, &cfg)
	if err != nil {
		if n.netnsFD != nil {
			n.netnsFD.Close()
			n.netnsFD = nil
			// The library's "without a namespace" is this option
			// left empty.
			err = fmt.Errorf("netns = %q (leave it empty when the process runs in the namespace): %w", n.Netns, err)
		}
		return nil, err
	}
	return r, nil
}

func (n *NFLOG) openFile() (*nflog.Reader, error) {
	if n.replay == "-" {
		// A file of its own for standard input, which the reader closes on
		// Stop: that interrupts a read waiting on an idle pipe, where a read
		// of os.Stdin could not be interrupted and Stop would hang.
		return nflog.OpenFile("/dev/stdin", nil)
	}
	return nflog.OpenFile(n.replay, nil)
}

// read is the reading goroutine: it hands every packet to the builder until
// the reader is closed, the file ends or a final error happens.
//
// The accumulator may block: in Telegraf when the outputs fall behind and
// the metric buffer is full, under execd when the pipe to Telegraf is full.
// Reading then pauses and the kernel drops what does not fit in the socket
// buffer; the drops are counted (overruns, packets_lost), which is the best
// a logger can do, as the kernel never waits for its reader.
func (n *NFLOG) read(ctx context.Context, r *nflog.Reader, acc telegraf.Accumulator) {
	groups := n.replayGroups
	handle := func(p *nflog.Packet) error {
		if n.stopping.Load() {
			return errStopping
		}
		if n.trace {
			n.Log.Tracef("Packet: group %d, family %s, hook %d, prefix %q, %d bytes of payload",
				p.Group, p.Family, p.Hook, p.Prefix, len(p.Payload))
		}
		if groups != nil {
			groups.add(p.Group)
		}
		n.build.add(acc, p)
		return nil
	}
	for {
		err := r.Loop(ctx, -1, handle)
		switch {
		case err == nil:
			continue
		case n.stopping.Load(), errors.Is(err, errStopping), errors.Is(err, nflog.ErrClosed), ctx.Err() != nil:
			return
		case errors.Is(err, io.EOF):
			n.Log.Infof("End of capture file %q", n.replay)
			return
		case nflog.IsTemporary(err):
			var de *nflog.DecodeError
			if n.trace && errors.As(err, &de) {
				n.Log.Tracef("Undecodable message: %s", hex.EncodeToString(de.Raw))
			}
			n.errs.add(acc, fmt.Errorf("reading NFLOG messages: %w", err))
		default:
			err = fmt.Errorf("reading NFLOG messages stopped: %w", err)
			n.readErr.Store(&err)
			acc.AddError(err)
			return
		}
	}
}

// drain hands out the packets the closed reader still holds, until deadline.
func (n *NFLOG) drain(deadline time.Time) {
	if n.acc == nil || n.build == nil {
		return
	}
	for time.Now().Before(deadline) {
		p, err := n.reader.TryNext()
		switch {
		case err == nil:
			n.build.add(n.acc, &p)
		case nflog.IsTemporary(err) && !errors.Is(err, nflog.ErrWouldBlock):
			continue
		default:
			return
		}
	}
	if left := n.reader.Queued(); left > 0 {
		n.Log.Warnf("Stopping: %d received packets were not handed out within %v", left, stopBudget)
	}
}
