//go:build linux

package nflog_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nflogr/telegraf-nflog/nflog"
	"github.com/nflogr/telegraf-nflog/testutil"
)

// threadsInRecvfrom counts the threads of this process the kernel shows
// blocked in recvfrom(2) on fd (/proc/self/task/*/syscall: the call's
// number, then its arguments). A ReadBlocking reader waits there, not in
// the netpoller, so waitBlockedReads, which reads goroutine states, cannot
// see it.
func threadsInRecvfrom(fd int) int {
	tasks, _ := filepath.Glob("/proc/self/task/*/syscall")
	want := fmt.Sprintf("%d 0x%x ", unix.SYS_RECVFROM, fd)
	n := 0
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err == nil && strings.HasPrefix(string(b), want) {
			n++
		}
	}
	return n
}

// inRecvfromWithin polls threadsInRecvfrom until a thread waits on fd or d
// has passed.
func inRecvfromWithin(fd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for threadsInRecvfrom(fd) == 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// denseNext reads two back-to-back packets to port 9, so that the next
// read waits in the kernel (a read waits there only while datagrams come
// close together), then starts r.Next(ctx) in a goroutine and returns its
// result channel.
func denseNext(t *testing.T, ns *testutil.NetNS, r *nflog.Reader, ctx context.Context) <-chan error {
	t.Helper()
	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(998), 2)
	for range 2 {
		_, err := r.Next(ctx)
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Next(ctx)
		done <- err
	}()
	return done
}

// cancelEndsRead cancels a read's context and requires the read to return
// context.Canceled within 1 s.
func cancelEndsRead(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(time.Second):
		t.Fatal("a blocking Next did not return within 1 s of cancel")
	}
}

// nextInKernel starts r.Next(ctx) in a goroutine and returns its result
// channel once the read waits in the kernel (denseNext). Any signal (a collection, sysmon's preemption) makes the
// read wait in the netpoller instead, by design, and that can come before
// the test looks: then a packet ends that read and it tries again, up to
// 50 times.
func nextInKernel(t *testing.T, ns *testutil.NetNS, r *nflog.Reader, ctx context.Context) <-chan error {
	t.Helper()
	for range 50 {
		done := denseNext(t, ns, r, ctx)
		if inRecvfromWithin(r.Fd(), 200*time.Millisecond) {
			return done
		}
		testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(999), 1)
		require.NoError(t, <-done)
	}
	t.Fatalf("no thread blocked in recvfrom(2) on fd %d in 50 reads: the ReadBlocking reader does not wait in the kernel", r.Fd())
	return nil
}

// TestKernelBlockingReads: a ReadBlocking reader waits inside recvfrom(2),
// reads what Next, Loop and Queue read in the netpoller mode, and its
// non-waiting reads still do not wait.
func TestKernelBlockingReads(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "10", "-j", "NFLOG", "--nflog-group", "2")
	blocking := openReader(t, ns, 1, nflog.Config{ReadMode: nflog.ReadBlocking})
	netpoll := openReader(t, ns, 2, nflog.Config{})

	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	done := nextInKernel(t, ns, blocking, ctx)
	go func() { netpoll.Next(ctx) }()
	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(0), 1)
	testutil.SendUDP(t, ns, "127.0.0.1:10", udpID(0), 1)
	require.NoError(t, <-done)

	for i := 1; i <= 3; i++ {
		testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(i), 1)
		testutil.SendUDP(t, ns, "127.0.0.1:10", udpID(i), 1)
	}
	// Each reader read its packet 0; now both have 1-3.
	for _, r := range []*nflog.Reader{blocking, netpoll} {
		requireIDs(t, r, 1)
		var ids []int
		require.NoError(t, r.Loop(ctx, 1, func(p *nflog.Packet) error {
			id, err := payloadID(p)
			ids = append(ids, id)
			return err
		}))
		require.Equal(t, []int{2}, ids)
		n, err := r.Queue(ctx, true)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		requireIDs(t, r, 3)
		_, err = r.TryNext()
		require.ErrorIs(t, err, nflog.ErrWouldBlock)
		n, err = r.Queue(ctx, false)
		require.NoError(t, err)
		require.Zero(t, n)
	}
	require.Zero(t, blocking.Stats().DecodeErrors)
}

// TestKernelBlockingClose: cancelling the context ends a wait in the
// kernel within 1 s, and the reader still reads; Close ends it, and the
// reads queued behind it, within 1 s. Here the runtime's signals end the
// waits (waitBlockedReads stops the world); TestKernelBlockingTimeout
// covers the waits that only the receive timeout ends.
func TestKernelBlockingClose(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{ReadMode: nflog.ReadBlocking})

	bounded, cancelAll := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelAll()
	cctx, cancel := context.WithCancel(bounded)
	done := nextInKernel(t, ns, r, cctx)
	cancelEndsRead(t, cancel, done)
	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(7), 1)
	requireIDs(t, r, 7)

	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	const readers = 4
	errs := make(chan error, readers)
	first := nextInKernel(t, ns, r, ctx) // holds the receive lock, in the kernel
	go func() { errs <- <-first }()
	for i := range readers - 1 {
		go func() {
			var err error
			if i%2 == 0 {
				_, err = r.Next(ctx)
			} else {
				err = r.Loop(ctx, -1, func(*nflog.Packet) error { return nil })
			}
			errs <- err
		}()
	}
	waitBlockedReads(t, readers-1) // they wait for the lock
	closeEndsReads(t, r, errs, readers)
}

// TestKernelBlockingKeepsRuntimeGoing: while a ReadBlocking reader holds
// the only P (GOMAXPROCS=1) in the kernel, garbage collections and other
// goroutines still run: the runtime's signal ends the wait with EINTR and
// the read gives up the P, waiting in the netpoller. Were the read to go
// back into the kernel, each collection would wait for sysmon's next
// preemption, 20 ms apart, and 20 of them took 4 s.
func TestKernelBlockingKeepsRuntimeGoing(t *testing.T) {
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{ReadMode: nflog.ReadBlocking})

	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	done := nextInKernel(t, ns, r, ctx)

	// At GOMAXPROCS=1 the reader is never seen in the kernel from Go code:
	// whenever this goroutine runs, the reader has been preempted out of it.
	procs := runtime.GOMAXPROCS(1)
	start := time.Now()
	for range 20 {
		runtime.GC()
	}
	gcs := time.Since(start)
	start = time.Now()
	for range 20 {
		time.Sleep(time.Millisecond)
	}
	sleeps := time.Since(start)
	runtime.GOMAXPROCS(procs)
	require.Less(t, gcs, time.Second, "20 garbage collections while a reader blocks at GOMAXPROCS=1")
	require.Less(t, sleeps, time.Second, "20 sleeps of 1 ms while a reader blocks at GOMAXPROCS=1")

	// The interrupted read waits in the netpoller now; a packet ends it,
	// and the next read waits in the kernel again.
	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(1), 1)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(readTimeout):
		t.Fatal("the blocked Next did not return the packet")
	}
	done = nextInKernel(t, ns, r, ctx)
	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(2), 1)
	require.NoError(t, <-done)
	t.Logf("GOMAXPROCS=1, reader blocked: 20 GCs in %v, 20 sleeps of 1 ms in %v", gcs, sleeps)
}

// TestKernelBlockingTimeout: without the runtime's signals
// (GODEBUG=asyncpreemptoff=1, in a child process running this test), only
// a datagram or the 100 ms receive timeout ends a wait in the kernel. The
// read stays blocked across the timeouts (each goes back into the kernel),
// a cancelled context and Close are seen within 1 s, a packet is read, and
// after a gap the next read waits in the netpoller.
func TestKernelBlockingTimeout(t *testing.T) {
	if os.Getenv("NFLOG_TEST_NO_PREEMPT") != "1" {
		requireKernel(t)
		cmd := exec.Command(os.Args[0], "-test.run=^TestKernelBlockingTimeout$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "NFLOG_TEST_NO_PREEMPT=1", "GODEBUG=asyncpreemptoff=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "the child test failed:\n%s", out)
		require.Contains(t, string(out), "--- PASS: TestKernelBlockingTimeout", "the child did not run the test:\n%s", out)
		return
	}
	ns := newNS(t)
	logUDP9(t, ns, 1)
	r := openReader(t, ns, 1, nflog.Config{ReadMode: nflog.ReadBlocking})
	bounded, cancelAll := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelAll()

	read := func(ctx context.Context) <-chan error {
		done := denseNext(t, ns, r, ctx)
		require.True(t, inRecvfromWithin(r.Fd(), 5*time.Second), "the read does not wait in the kernel")
		return done
	}
	ctx, cancel := context.WithCancel(bounded)
	done := read(ctx)
	// Three receive timeouts pass; a timeout that ended the read, or left
	// the kernel for good, shows here.
	time.Sleep(3*nflog.BlockingReadTimeout + 50*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Next returned across the receive timeouts without a packet: %v", err)
	default:
	}
	require.True(t, inRecvfromWithin(r.Fd(), time.Second), "after the timeouts the read no longer waits in the kernel")
	cancelEndsRead(t, cancel, done)

	// A packet after a gap over sparseGap (10 ms): the next read waits in
	// the netpoller, where a wait costs no signal (nothing here would end
	// a wait in the kernel anyway, but the timeout).
	done = read(bounded)
	time.Sleep(30 * time.Millisecond)
	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(3), 1)
	require.NoError(t, <-done)
	after := make(chan error, 1)
	go func() {
		_, err := r.Next(bounded)
		after <- err
	}()
	require.False(t, inRecvfromWithin(r.Fd(), 300*time.Millisecond), "after a gap of 30 ms the read waits in the kernel, not the netpoller")
	testutil.SendUDP(t, ns, "127.0.0.1:9", udpID(4), 1)
	require.NoError(t, <-after)

	errs := make(chan error, 1)
	done = read(bounded)
	go func() { errs <- <-done }()
	closeEndsReads(t, r, errs, 1)
}
