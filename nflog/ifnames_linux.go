//go:build linux

package nflog

import (
	"errors"
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
type interfaceNames struct {
	names   atomic.Pointer[map[uint32]string] // replaced whole on each change
	watch   *rtnetlink.Conn
	netns   int
	mu      sync.Mutex // serialises writers of names
	stopped chan struct{}

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
			if errors.Is(err, unix.ENOBUFS) { // missed notifications: start over
				n.relist()
				continue
			}
			return // closed
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

// name returns the interface's name, or "ifindexN" for an index the
// namespace does not (or no longer) know, so that the value stays stable.
func (n *interfaceNames) name(index uint32) string {
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

func (n *interfaceNames) close() {
	n.watch.Close()
	<-n.stopped
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
