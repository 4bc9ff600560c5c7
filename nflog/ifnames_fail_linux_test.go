//go:build linux

package nflog

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/testutil"
)

// When the follower of interface renames loses its socket, the failure is
// handed out once and counted, and names are looked up from the kernel
// from then on instead of going stale.

// breakFollower makes the follower's socket fail as a dying socket does,
// with an error on receive (a deadline in the past), and waits, bounded,
// for the follower to stop.
func breakFollower(t *testing.T, n *interfaceNames) {
	t.Helper()
	require.NoError(t, n.watch.SetReadDeadline(time.Unix(1, 0)))
	select {
	case <-n.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower did not stop within 10s of its socket failing")
	}
}

func TestNameFollowerFailureIsReported(t *testing.T) {
	n, err := newInterfaceNames(0)
	require.NoError(t, err)
	defer n.close()
	require.Nil(t, n.takeFailure(), "a working follower has nothing to report")
	require.Zero(t, n.failures())

	breakFollower(t, n)
	require.Equal(t, uint64(1), n.failures())

	lo, err := net.InterfaceByIndex(1)
	require.NoError(t, err)
	src := newFakeSource(true, datagram(udpPacketBody(1, "a", 0)), datagram(udpPacketBody(1, "b", 1)))
	r := newReader(src, []int{1}, Config{}, n)
	defer r.Close()

	_, err = r.Next(context.Background())
	require.ErrorIs(t, err, ErrNameWatch)
	require.True(t, IsTemporary(err), "the reader goes on")
	require.ErrorContains(t, err, "nflog: watch interface names: interface names are no longer followed (each is now looked up as packets need it): receiving link notifications:")
	for _, want := range []string{"a", "b"} {
		p, err := r.Next(context.Background())
		require.NoError(t, err, "said once")
		require.Equal(t, want, p.Prefix)
		require.Equal(t, lo.Name, p.OutDevName, "looked up")
	}
	require.Equal(t, uint64(1), r.Stats().NameWatchFailures)
	require.Equal(t, "ifindex4000000", n.name(4000000))
}

// After the failure a rename is seen, which the last table cannot know.
func TestNameFollowerFailureLooksUpRenames(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTools(t, "ip")
	ns := testutil.NewNetNS(t)
	ns.Run(t, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d0peer") // dummy needs a module CI may lack
	idx := uint32(testutil.LinkIndex(t, ns, "d0"))
	n, err := newInterfaceNames(ns.FD())
	require.NoError(t, err)
	defer n.close()
	require.Equal(t, "d0", n.name(idx))

	breakFollower(t, n)
	ns.Run(t, "ip", "link", "set", "d0", "name", "renamed0")
	require.Equal(t, "renamed0", n.name(idx), "looked up from the kernel, not the stale table")
	ns.Run(t, "ip", "link", "del", "renamed0")
	require.Equal(t, unknownInterface(idx), n.name(idx), "a removed link reads ifindexN")
}
