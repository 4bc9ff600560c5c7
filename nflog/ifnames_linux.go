//go:build linux

package nflog

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// interfaceNames resolves interface indexes to names in one network
// namespace. It lists the links once, then follows rtnetlink link
// notifications (added, renamed, removed) on a goroutine of its own, so a
// lookup on the hot path is one atomic load and a map read.
//
// If the follower's socket fails, the table would silently go stale: the
// follower records why and stops, the reader hands the error out once
// (takeFailure) and counts it (failures), and from then on every name is
// looked up from the kernel as packets ask for it, on a request socket of
// its own: slower, but right.
type interfaceNames struct {
	names   atomic.Pointer[map[uint32]string] // replaced whole on each change
	watch   *rtnetlink.Conn
	netns   int
	mu      sync.Mutex // serialises writers of names
	stopped chan struct{}
	closing atomic.Bool // set by close before it closes watch: errors then are the close

	failErr  error       // why the follower stopped; written before failed is set
	failed   atomic.Bool // the follower stopped on an error: names are looked up
	reported atomic.Bool // takeFailure handed failErr out

	lookupMu sync.Mutex      // guards lookup, used by the decoder and closed by close
	lookup   *rtnetlink.Conn // for lookups once failed; nil until the first

	last struct { // the last lookup; see name
		table *map[uint32]string
		index uint32
		name  string
	}
}

func newInterfaceNames(netns int) (*interfaceNames, error) {
	// Subscribe before listing, so no change falls between the two.
	watch, err := rtnetlink.Dial(&netlink.Config{NetNS: netns, Groups: unix.RTMGRP_LINK})
	if err != nil {
		return nil, err
	}
	n := &interfaceNames{watch: watch, netns: netns, stopped: make(chan struct{})}
	if err := n.relist(); err != nil {
		watch.Close()
		return nil, err
	}
	go n.follow()
	return n, nil
}

// relist replaces the table with a fresh dump of the links.
func (n *interfaceNames) relist() error {
	c, err := rtnetlink.Dial(&netlink.Config{NetNS: n.netns})
	if err != nil {
		return err
	}
	defer c.Close()
	links, err := c.Link.List()
	if err != nil {
		return err
	}
	m := make(map[uint32]string, len(links))
	for _, l := range links {
		if l.Attributes != nil {
			m[l.Index] = l.Attributes.Name
		}
	}
	n.mu.Lock()
	n.names.Store(&m)
	n.mu.Unlock()
	return nil
}

func (n *interfaceNames) follow() {
	defer close(n.stopped)
	for {
		rtmsgs, msgs, err := n.watch.Receive()
		if err != nil {
			if n.closing.Load() {
				return
			}
			if errors.Is(err, unix.ENOBUFS) { // missed notifications: start over
				if err := n.relist(); err != nil && !n.closing.Load() {
					n.fail(fmt.Errorf("listing the links again after missed notifications: %w", err))
					return
				}
				continue
			}
			n.fail(fmt.Errorf("receiving link notifications: %w", err))
			return
		}
		for i, m := range rtmsgs {
			lm, ok := m.(*rtnetlink.LinkMessage)
			if !ok || i >= len(msgs) {
				continue
			}
			switch msgs[i].Header.Type {
			case unix.RTM_NEWLINK:
				if lm.Attributes != nil && lm.Attributes.Name != "" {
					n.update(lm.Index, lm.Attributes.Name)
				}
			case unix.RTM_DELLINK:
				n.update(lm.Index, "")
			}
		}
	}
}

// update sets (or with name "" removes) one entry, copying the table.
func (n *interfaceNames) update(index uint32, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := *n.names.Load()
	if cur, ok := old[index]; ok == (name != "") && cur == name {
		return
	}
	m := make(map[uint32]string, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if name == "" {
		delete(m, index)
	} else {
		m[index] = name
	}
	n.names.Store(&m)
}

// fail records why the follower stopped; names are looked up from now on.
func (n *interfaceNames) fail(err error) {
	n.failErr = &OpError{Op: "watch interface names", Group: -1, Err: fmt.Errorf("%w: %w", ErrNameWatch, err)}
	n.failed.Store(true)
}

// takeFailure returns the follower's failure the first time it is asked
// after it happened, nil otherwise.
func (n *interfaceNames) takeFailure() error {
	if !n.failed.Load() || n.reported.Swap(true) {
		return nil
	}
	return n.failErr
}

// failures is 1 once the follower failed.
func (n *interfaceNames) failures() uint64 {
	if n.failed.Load() {
		return 1
	}
	return 0
}

// name returns the interface's name, or "ifindexN" for an index the
// namespace does not (or no longer) know, so that the value stays stable.
func (n *interfaceNames) name(index uint32) string {
	if n.failed.Load() {
		return n.lookupName(index)
	}
	m := n.names.Load()
	// Consecutive packets mostly name the same interface: remember the
	// last answer for this version of the table (a map lookup was a tenth
	// of the reader's CPU under flood). Only the reader's decoder calls
	// name, under its receive lock.
	if m == n.last.table && index == n.last.index {
		return n.last.name
	}
	s, ok := (*m)[index]
	if !ok {
		s = unknownInterface(index)
	}
	n.last.table, n.last.index, n.last.name = m, index, s
	return s
}

// lookupName asks the kernel for one interface's name, once the follower
// failed. Without a request socket either, the last table answers.
func (n *interfaceNames) lookupName(index uint32) string {
	n.lookupMu.Lock()
	defer n.lookupMu.Unlock()
	if n.lookup == nil && !n.closing.Load() {
		c, err := rtnetlink.Dial(&netlink.Config{NetNS: n.netns})
		if err == nil {
			n.lookup = c
		}
	}
	if n.lookup != nil {
		l, err := n.lookup.Link.Get(index)
		if err == nil && l.Attributes != nil && l.Attributes.Name != "" {
			return l.Attributes.Name
		}
		// A link the kernel does not know comes back as ENODEV, or as an
		// empty answer (rtnetlink's "too many/little matches", not a
		// netlink.OpError): the index is unknown. A failing socket is an
		// OpError: then the last table is the best answer.
		var oe *netlink.OpError
		if errors.As(err, &oe) && !errors.Is(err, unix.ENODEV) {
			if s, ok := (*n.names.Load())[index]; ok {
				return s
			}
		}
		return unknownInterface(index)
	}
	if s, ok := (*n.names.Load())[index]; ok {
		return s
	}
	return unknownInterface(index)
}

func (n *interfaceNames) close() {
	n.closing.Store(true)
	n.watch.Close()
	<-n.stopped
	n.lookupMu.Lock()
	if n.lookup != nil {
		n.lookup.Close()
		n.lookup = nil
	}
	n.lookupMu.Unlock()
}

// unknownInterface names an index with no known interface. Small indexes
// come from a table so the hot path does not allocate.
func unknownInterface(index uint32) string {
	if index < uint32(len(unknownNames)) {
		return unknownNames[index]
	}
	return "ifindex" + strconv.FormatUint(uint64(index), 10)
}

var unknownNames = func() (t [256]string) {
	for i := range t {
		t[i] = "ifindex" + strconv.Itoa(i)
	}
	return t
}()

// newHostInterfaceNames resolves names in the caller's network namespace,
// for replayed captures.
func newHostInterfaceNames() (*interfaceNames, error) { return newInterfaceNames(0) }
