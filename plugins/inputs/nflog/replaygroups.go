//go:build linux

package nflog

import (
	"slices"
	"sync"
)

// replayGroups are the NFLOG groups of a replayed capture, for the group
// tag of nflog_stats. A file binds no groups, but each packet records the
// group it was logged to (tcpdump -i nflog:5,6 mixes several), so the
// replay's statistics carry the tag that the live ones would.
//
// add runs on the reading goroutine only, tags on Gather's.
type replayGroups struct {
	last int // the previous packet's group, -1 before the first; reader only

	mu   sync.Mutex
	seen []int // sorted
}

func newReplayGroups() *replayGroups { return &replayGroups{last: -1} }

// add records the group of a packet.
func (g *replayGroups) add(group uint16) {
	if int(group) == g.last {
		return // nearly every packet: no lock
	}
	g.last = int(group)
	g.mu.Lock()
	defer g.mu.Unlock()
	if i, found := slices.BinarySearch(g.seen, int(group)); !found {
		g.seen = slices.Insert(g.seen, i, int(group))
	}
}

// tags returns the tags of nflog_stats: the groups seen so far, or none
// before the first packet.
func (g *replayGroups) tags() map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.seen) == 0 {
		return nil
	}
	return map[string]string{"group": joinInts(g.seen)}
}
