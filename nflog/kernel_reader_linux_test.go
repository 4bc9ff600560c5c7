//go:build linux

package nflog_test

// Kernel tests of the reader's mechanics: batching, sequence numbers,
// overruns, buffer growth, group ownership, several groups, Close, context,
// concurrent readers, Loop, All and Queue. Helpers are in
// kernel_linux_test.go.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/nflog"
	"github.com/nflogr/telegraf-nflog/testutil"
)

// logUDP9 installs the rule most reader tests use: UDP to port 9 over
// loopback, logged at OUTPUT to group, plus extra NFLOG options.
func logUDP9(t *testing.T, ns *testutil.NetNS, group int, extra ...string) {
	t.Helper()
	ns.Iptables(t, append([]string{"-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9",
		"-j", "NFLOG", "--nflog-group", strconv.Itoa(group)}, extra...)...)
}

// requireIDs reads len(want) packets with Next and checks their numbers.
func requireIDs(t *testing.T, r *nflog.Reader, want ...int) {
	t.Helper()
	for _, w := range want {
		p := next(t, r)
		id, err := payloadID(&p)
		require.NoError(t, err)
		require.Equal(t, w, id)
	}
}

// TestKernelThresholdBatching: with a queue threshold of 10 the kernel sends
// 25 packets as two datagrams of 10 messages, each ended by NLMSG_DONE, and
// the tail of 5 when the 50 ms flush timeout fires. All 25 arrive in order,
// nothing is taken for a decode error.
func TestKernelThresholdBatching(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1, "--nflog-threshold", "10")
	r := openReader(t, ns, 1, nflog.Config{QueueThreshold: 10, FlushTimeout: 50 * time.Millisecond, Flags: nflog.FlagSequence})
	s := newLoopbackSender(t, ns, "127.0.0.1:9")

	start := time.Now()
	for i := range 25 {
		s.send(t, udpID(i))
	}
	// The two full batches were sent while the datagrams were; the tail
	// waits for the timer, which cannot have fired within 30 ms (50 ms, less
	// a jiffy at worst).
	n, err := r.Queue(context.Background(), false)
	elapsed := time.Since(start)
	require.NoError(t, err)
	if elapsed < 30*time.Millisecond {
		require.Equal(t, 20, n, "messages of the two full batches")
	} else {
		t.Logf("sending took %v, near the flush timeout: not checking the batch split (queued %d)", elapsed, n)
	}
	for i := range 25 {
		p := next(t, r)
		id, err := payloadID(&p)
		require.NoError(t, err)
		require.Equal(t, i, id)
		require.Equal(t, uint32(i), p.Seq)
	}
	requireNoPacket(t, r)
	st := r.Stats()
	require.Equal(t, uint64(25), st.Received)
	require.Zero(t, st.DecodeErrors, "NLMSG_DONE must not count as a decode error")
	require.Zero(t, st.Lost)
}

// TestKernelFlushTimeout: below the threshold, packets come only when the
// flush timeout fires, all in one datagram.
func TestKernelFlushTimeout(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{QueueThreshold: 100, FlushTimeout: 200 * time.Millisecond})
	s := newLoopbackSender(t, ns, "127.0.0.1:9")
	start := time.Now()
	for i := range 5 {
		s.send(t, udpID(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	n, err := r.Queue(ctx, true)
	require.NoError(t, err)
	require.Equal(t, 5, n, "the timer flushes the 5 packets as one batch")
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "not before the flush timeout")
	requireIDs(t, r, 0, 1, 2, 3, 4)
}

// TestKernelSequence: per-group sequence numbers start at 0, the
// namespace's global ones at 1, both consecutive; nothing counted as lost.
func TestKernelSequence(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{Flags: nflog.FlagSequence | nflog.FlagGlobalSequence})
	s := newLoopbackSender(t, ns, "127.0.0.1:9")
	for i := range 20 {
		s.send(t, udpID(i))
	}
	for i := range 20 {
		p := next(t, r)
		require.True(t, p.Has(nflog.AttrSeq))
		require.True(t, p.Has(nflog.AttrSeqGlobal))
		require.Equal(t, uint32(i), p.Seq)
		require.Equal(t, uint32(i+1), p.GlobalSeq)
	}
	st := r.Stats()
	require.Equal(t, uint64(20), st.Received)
	require.Zero(t, st.Lost)
	require.Zero(t, st.Overruns)

	// Without the flags, no sequence attributes.
	r.Close()
	r2 := openReader(t, ns, 1, nflog.Config{})
	s.send(t, udpID(99))
	p := next(t, r2)
	require.False(t, p.Has(nflog.AttrSeq))
	require.False(t, p.Has(nflog.AttrSeqGlobal))
}

// drain reads until nothing is waiting, returning the overrun errors met.
// Packets and errors are bounded by the flood size.
func drain(t *testing.T, r *nflog.Reader) (packets, overrunErrs int) {
	t.Helper()
	for range 1_000_000 {
		p, err := r.TryNext()
		switch {
		case err == nil:
			_, idErr := payloadID(&p)
			require.Error(t, idErr, "flood datagrams are zeros")
			packets++
		case errors.Is(err, nflog.ErrWouldBlock):
			return packets, overrunErrs
		case errors.Is(err, nflog.ErrOverrun):
			require.True(t, nflog.IsTemporary(err))
			overrunErrs++
		default:
			t.Fatalf("draining after the flood: %v", err)
		}
	}
	t.Fatal("drain did not end")
	return
}

// TestKernelOverrun floods a small socket buffer while nobody reads, under
// each overrun policy, then drains it. Every datagram sent is either
// received or counted lost from the sequence gaps; a marker sent after the
// drain reveals losses at the end of the flood.
func TestKernelOverrun(t *testing.T) {
	for _, policy := range []nflog.OverrunPolicy{nflog.OverrunError, nflog.OverrunCount, nflog.OverrunIgnore} {
		t.Run(policy.String(), func(t *testing.T) {
			ns := newNS(t)
			logUDP9(t, ns, 1)
			r := openReader(t, ns, 1, nflog.Config{Flags: nflog.FlagSequence, ReadBufferSize: 16 << 10, OnOverrun: policy})

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			sent, err := testutil.Flood(ctx, ns, "127.0.0.1:9", 0, 20000, 2*time.Second)
			require.NoError(t, err)
			require.Positive(t, sent)

			packets, overrunErrs := drain(t, r)
			// The marker: its sequence number is the number of messages
			// the kernel built before it.
			testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(1), 1)
			p := next(t, r)
			id, err := payloadID(&p)
			require.NoError(t, err, "the reader stays usable after the flood")
			require.Equal(t, 1, id)
			require.Equal(t, uint32(sent), p.Seq, "every datagram sent was logged")

			st := r.Stats()
			t.Logf("policy %v: sent %d, drained %d, stats %+v, overrun errors %d", policy, sent, packets, st, overrunErrs)
			require.Equal(t, uint64(sent+1), st.Received+st.Lost, "sent == received + lost")
			require.Equal(t, uint64(packets+1), st.Received)
			require.Positive(t, st.Lost, "a %d-byte buffer overflows", 16<<10)
			switch policy {
			case nflog.OverrunError:
				require.Positive(t, overrunErrs, "an ErrOverrun error was returned")
				require.Equal(t, uint64(overrunErrs), st.Overruns)
			case nflog.OverrunCount:
				require.Zero(t, overrunErrs)
				require.Positive(t, st.Overruns)
			case nflog.OverrunIgnore:
				require.Zero(t, overrunErrs)
				require.Zero(t, st.Overruns, "NETLINK_NO_ENOBUFS: no overrun reported")
			}
			require.Equal(t, st.Overruns, r.Drops())
			require.Equal(t, st.Overruns, r.ResetDrops())
			require.Zero(t, r.Drops())
		})
	}
}

// TestKernelBufferGrowth: with MaxReadBufferSize the receive buffer doubles
// on overruns.
func TestKernelBufferGrowth(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{
		Flags: nflog.FlagSequence, ReadBufferSize: 4096, MaxReadBufferSize: 4 << 20, OnOverrun: nflog.OverrunCount,
	})
	before, err := r.ReadBufferSize()
	require.NoError(t, err)
	require.Less(t, before, 64<<10)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sent, err := testutil.Flood(ctx, ns, "127.0.0.1:9", 0, 20000, 2*time.Second)
	require.NoError(t, err)
	drain(t, r)

	st := r.Stats()
	require.Positive(t, st.Overruns)
	require.Positive(t, st.BufferGrowths)
	after, err := r.ReadBufferSize()
	require.NoError(t, err)
	require.Greater(t, after, before)
	require.LessOrEqual(t, after, 4<<20)
	t.Logf("sent %d, buffer %d -> %d bytes, stats %+v", sent, before, after, st)

	// SetReadBufferSize asks for a size and reports the one granted.
	got, err := r.SetReadBufferSize(1 << 20)
	require.NoError(t, err)
	require.Equal(t, 1<<20, got)
}

// TestKernelGroupBusy: a second reader for a bound group gets ErrGroupBusy
// naming the holder's netlink port; the first keeps working. A group listed
// twice is a configuration error.
func TestKernelGroupBusy(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 7)
	r := openReader(t, ns, 7, nflog.Config{})
	require.Contains(t, testutil.ProcNflog(t, ns), strconv.FormatUint(uint64(r.PortID()), 10))

	r2, err := nflog.Open(7, &nflog.Config{NetNS: ns.FD()})
	if err == nil {
		r2.Close()
		t.Fatal("a second reader bound group 7")
	}
	require.ErrorIs(t, err, nflog.ErrGroupBusy)
	require.NotErrorIs(t, err, nflog.ErrPermission)
	require.Contains(t, err.Error(), "port "+strconv.FormatUint(uint64(r.PortID()), 10))
	var op *nflog.OpError
	require.ErrorAs(t, err, &op)
	require.Equal(t, 7, op.Group)

	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(1), 1)
	requireIDs(t, r, 1)

	_, err = nflog.OpenGroups([]int{5, 5}, &nflog.Config{NetNS: ns.FD()})
	require.ErrorIs(t, err, nflog.ErrInvalidConfig)

	// Once the holder is closed, the group is free again.
	require.NoError(t, r.Close())
	r3 := openReader(t, ns, 7, nflog.Config{})
	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(2), 1)
	requireIDs(t, r3, 2)
}

// childEnv tells a re-executed test binary which part it plays.
const childEnv = "NFLOG_KERNEL_TEST_CHILD"

// TestKernelNoCapability: without CAP_NET_ADMIN, Open fails with
// ErrPermission and names the capability. The test re-runs its own binary
// inside the namespace as root with an empty capability bounding set, so
// the child has no capability at all.
func TestKernelNoCapability(t *testing.T) {
	if os.Getenv(childEnv) == "nocap" {
		status, err := os.ReadFile("/proc/self/status")
		require.NoError(t, err)
		require.Regexp(t, `(?m)^CapEff:\s+0+$`, string(status), "setpriv left capabilities")
		r, err := nflog.Open(1, &nflog.Config{})
		if err == nil {
			r.Close()
			t.Fatal("Open bound a group without CAP_NET_ADMIN")
		}
		require.ErrorIs(t, err, nflog.ErrPermission)
		require.NotErrorIs(t, err, nflog.ErrGroupBusy)
		require.Contains(t, err.Error(), "CAP_NET_ADMIN")
		fmt.Println("nocap child:", err)
		return
	}
	ns := newNS(t, "setpriv", "env")
	out := ns.Run(t, "setpriv", "--bounding-set=-all", "--inh-caps=-all",
		"env", childEnv+"=nocap", os.Args[0], "-test.run=^TestKernelNoCapability$", "-test.count=1")
	require.Contains(t, out, "nocap child: ")
	require.Contains(t, out, "CAP_NET_ADMIN")
	t.Log(strings.TrimSpace(out))
}

// TestKernelGroups: one socket bound to three groups tells their packets
// apart.
func TestKernelGroups(t *testing.T) {
	ns := newNS(t)
	groups := []int{1, 2, 65535}
	for _, g := range groups {
		ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", strconv.Itoa(1000+g%1000),
			"-j", "NFLOG", "--nflog-group", strconv.Itoa(g))
	}
	r, err := nflog.OpenGroups(groups, &nflog.Config{NetNS: ns.FD()})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	require.Equal(t, groups, r.Groups())
	require.Equal(t, 1, r.Group())
	proc := testutil.ProcNflog(t, ns)
	for _, g := range groups {
		require.Regexp(t, `(?m)^\s*`+strconv.Itoa(g)+`\s+`+strconv.FormatUint(uint64(r.PortID()), 10)+`\s`, proc)
	}

	for _, g := range []int{65535, 1, 2, 1} {
		testutil.SendUDP(t, ns, "127.0.0.1:"+strconv.Itoa(1000+g%1000), udpID(g), 1)
		p := next(t, r)
		require.Equal(t, uint16(g), p.Group)
		id, err := payloadID(&p)
		require.NoError(t, err)
		require.Equal(t, g, id)
	}
}

// TestKernelCloseUnblocks: Close wakes every blocked reader at once with
// ErrClosed, is idempotent, and leaves packets already queued readable.
func TestKernelCloseUnblocks(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{})

	const readers = 6
	errs := make(chan error, readers)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range readers {
		go func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = r.Next(ctx)
			case 1:
				err = r.Loop(ctx, -1, func(*nflog.Packet) error { return nil })
			case 2:
				_, err = r.Queue(ctx, true)
			}
			errs <- err
		}()
	}
	waitBlockedReads(t, readers)
	select {
	case err := <-errs:
		t.Fatalf("a reader returned without traffic: %v", err)
	default:
	}
	closeEndsReads(t, r, errs, readers)
	require.NoError(t, r.Close(), "Close is idempotent")
	require.Equal(t, -1, r.Fd())
}

// closeEndsReads closes r and requires each of the n reads that report to
// errs to return ErrClosed, all within 1 s of Close.
func closeEndsReads(t *testing.T, r *nflog.Reader, errs <-chan error, n int) {
	t.Helper()
	start := time.Now()
	require.NoError(t, r.Close())
	for range n {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, nflog.ErrClosed)
		case <-time.After(time.Second):
			t.Fatalf("a blocked read did not return within 1 s of Close")
		}
	}
	require.Less(t, time.Since(start), time.Second)
}

// TestKernelCloseDrainsQueue: packets queued before Close are read first,
// then every read returns ErrClosed, stably.
func TestKernelCloseDrainsQueue(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	r2 := openReader(t, ns, 1, nflog.Config{})
	for i := range 3 {
		testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(i), 1)
	}
	n, err := r2.Queue(ctx, false)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.NoError(t, r2.Close())
	requireIDs(t, r2, 0, 1, 2)
	for range 2 {
		_, err = r2.Next(ctx)
		require.ErrorIs(t, err, nflog.ErrClosed)
		_, err = r2.TryNext()
		require.ErrorIs(t, err, nflog.ErrClosed)
		require.ErrorIs(t, r2.Loop(ctx, 1, func(*nflog.Packet) error { return nil }), nflog.ErrClosed)
		_, err = r2.Queue(ctx, false)
		require.ErrorIs(t, err, nflog.ErrClosed)
	}
	for _, err := range r2.All(ctx) {
		t.Fatalf("All yielded after Close: %v", err)
	}
}

// TestKernelContext: cancelling the context unblocks Next; an expired
// context fails a read at once with its error; the reader then still
// works (the read deadline used to wake it is cleared).
func TestKernelContext(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Next(ctx)
		done <- err
	}()
	waitBlockedReads(t, 1) // cancel a read that waits, not one yet to start
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(time.Second):
		t.Fatal("Next did not return within 1 s of cancel")
	}

	expired, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()
	_, err := r.Next(expired)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, r.Loop(expired, 1, func(*nflog.Packet) error { return nil }), context.DeadlineExceeded)
	_, err = r.Queue(expired, true)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A timeout while blocked, then a packet: read with a fresh context.
	short, cancel3 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel3()
	_, err = r.Next(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(5), 1)
	requireIDs(t, r, 5)
}

// TestKernelConcurrentReaders: 8 goroutines read at once, half with Next,
// half with Loop; every packet is handed out exactly once. Run with -race.
func TestKernelConcurrentReaders(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{Flags: nflog.FlagSequence, ReadBufferSize: 4 << 20})
	const total = 600

	var (
		mu   sync.Mutex
		seen = make(map[int]int, total)
		errs []error
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	record := func(p *nflog.Packet) {
		id, err := payloadID(p)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		seen[id]++
		if len(seen) == total {
			cancel()
		}
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				var err error
				if i%2 == 0 {
					var p nflog.Packet
					if p, err = r.Next(ctx); err == nil {
						record(&p)
					}
				} else {
					err = r.Loop(ctx, 1+i, func(p *nflog.Packet) error { record(p); return nil })
				}
				if err != nil && ctx.Err() == nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	s := newLoopbackSender(t, ns, "127.0.0.1:9")
	for i := range total {
		s.send(t, udpID(i))
	}
	wg.Wait()
	require.ErrorIs(t, ctx.Err(), context.Canceled, "all %d packets read before the timeout (got %d)", total, len(seen))
	require.Empty(t, errs)
	for i := range total {
		require.Equal(t, 1, seen[i], "packet %d handed out once", i)
	}
	st := r.Stats()
	require.Equal(t, uint64(total), st.Received)
	require.Zero(t, st.Lost)
	require.Zero(t, st.Overruns)
}

// TestKernelLoopAndAll: Loop's count, a callback error in the middle of a
// batch (the rest of the batch goes to the next read, in order), the
// zero-copy packet, and the All iterator with break.
func TestKernelLoopAndAll(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1, "--nflog-prefix", "loop")
	// One datagram of 12 messages.
	r := openReader(t, ns, 1, nflog.Config{QueueThreshold: 12, FlushTimeout: 5 * time.Second})
	s := newLoopbackSender(t, ns, "127.0.0.1:9")
	for i := range 12 {
		s.send(t, udpID(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()

	errStop := errors.New("stop here")
	var got []int
	err := r.Loop(ctx, -1, func(p *nflog.Packet) error {
		id, err := payloadID(p)
		if err != nil {
			return err
		}
		if p.Prefix != "loop" || p.Hook != nflog.HookOutput || p.Group != 1 {
			return errors.New("zero-copy packet: " + describe(p))
		}
		got = append(got, id)
		if id == 2 {
			return errStop
		}
		return nil
	})
	require.ErrorIs(t, err, errStop)
	require.Equal(t, []int{0, 1, 2}, got)
	require.Equal(t, 9, r.Queued(), "the rest of the batch is queued")

	got = got[:0]
	var kept nflog.Packet
	require.NoError(t, r.Loop(ctx, 3, func(p *nflog.Packet) error {
		id, err := payloadID(p)
		got = append(got, id)
		kept = p.Clone()
		return err
	}))
	require.Equal(t, []int{3, 4, 5}, got, "count respected")
	id, err := payloadID(&kept)
	require.NoError(t, err)
	require.Equal(t, 5, id, "a cloned packet outlives the callback")

	requireIDs(t, r, 6)

	got = got[:0]
	for p, err := range r.All(ctx) {
		require.NoError(t, err)
		id, err := payloadID(&p)
		require.NoError(t, err)
		got = append(got, id)
		if len(got) == 2 {
			break
		}
	}
	require.Equal(t, []int{7, 8}, got)
	requireIDs(t, r, 9)

	got = got[:0]
	require.NoError(t, r.Loop(ctx, 2, func(p *nflog.Packet) error {
		id, err := payloadID(p)
		got = append(got, id)
		return err
	}))
	require.Equal(t, []int{10, 11}, got)
	require.Zero(t, r.Queued())
	require.Equal(t, uint64(12), r.Stats().Received)
}

// TestKernelLoopBatchesInPlace: Loop decodes a fresh batch in place; a
// count that ends inside the batch queues the rest as owned packets.
func TestKernelLoopBatchesInPlace(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{QueueThreshold: 5, FlushTimeout: 5 * time.Second})
	s := newLoopbackSender(t, ns, "127.0.0.1:9")
	for i := range 5 {
		s.send(t, udpID(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var got []int
	require.NoError(t, r.Loop(ctx, 2, func(p *nflog.Packet) error {
		id, err := payloadID(p)
		got = append(got, id)
		return err
	}))
	require.Equal(t, []int{0, 1}, got)
	require.Equal(t, 3, r.Queued())
	requireIDs(t, r, 2, 3, 4)
}

// TestKernelQueue: Queue receives what the socket holds and says how many;
// TryNext then hands them out without blocking, and ErrWouldBlock after.
func TestKernelQueue(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()

	_, err := r.TryNext()
	require.ErrorIs(t, err, nflog.ErrWouldBlock)
	require.True(t, nflog.IsTemporary(err))
	n, err := r.Queue(ctx, false)
	require.NoError(t, err)
	require.Zero(t, n)

	const k = 7
	s := newLoopbackSender(t, ns, "127.0.0.1:9")
	for i := range k {
		s.send(t, udpID(i))
	}
	n, err = r.Queue(ctx, true)
	require.NoError(t, err)
	require.Equal(t, k, n)
	require.Equal(t, k, r.Queued())
	for i := range k {
		p, err := r.TryNext()
		require.NoError(t, err)
		id, err := payloadID(&p)
		require.NoError(t, err)
		require.Equal(t, i, id)
		require.Equal(t, k-i-1, r.Queued())
	}
	_, err = r.TryNext()
	require.ErrorIs(t, err, nflog.ErrWouldBlock)

	// Queue with wait blocks until a packet comes.
	sendErr := make(chan error, 1)
	go func() {
		// Queue waits before the packet comes (a goroutine may not
		// t.Fatal: the error goes with the send's).
		blocked := blockedReadsWithin(1, 10*time.Second)
		_, err := s.conn.WriteTo(udpID(100), s.to)
		if err == nil && !blocked {
			err = errors.New("Queue(ctx, true) was not blocked within 10s")
		}
		sendErr <- err
	}()
	n, err = r.Queue(ctx, true)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	p, err := r.TryNext()
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(string(p.Payload), "00000100"))
	require.NoError(t, <-sendErr)
}
