//go:build linux

// Command nflog-consumer reads one NFLOG group with this module's nflog
// reader and does minimal work per packet (it sums the payload lengths), to
// measure the library's own cost in the flood benchmark (nflog-bench).
//
//	nflog-consumer -group 7 -netns /run/netns/NAME -mode zerocopy \
//	    -threshold 64 -rcvbuf 8388608 -nlbuf 65536 -copy-range 128
//
// It reads until -idle passes without a packet (after the first one), or
// SIGTERM/SIGINT, then prints the reader's counters as one JSON object on
// stdout. SIGUSR1 prints the counters so far as a JSON line with
// "snapshot": true and goes on.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nflogr/telegraf-nflog/nflog"
)

type result struct {
	Snapshot     bool   `json:"snapshot,omitempty"`
	Mode         string `json:"mode"`
	Received     uint64 `json:"received"`
	Overruns     uint64 `json:"overruns"`
	Lost         uint64 `json:"lost"`
	DecodeErrors uint64 `json:"decode_errors"`
	Growths      uint64 `json:"growths"`
	Handled      uint64 `json:"handled"`
	PayloadBytes uint64 `json:"payload_bytes"`
	Rcvbuf       int    `json:"rcvbuf"`
	// Mallocs is the number of heap allocations while reading (from
	// runtime.MemStats), watchdog and signal handling included.
	Mallocs uint64 `json:"mallocs"`
}

func main() {
	group := flag.Int("group", 0, "NFLOG group")
	nsPath := flag.String("netns", "", "network namespace to read in (e.g. /run/netns/NAME); empty: the current one")
	mode := flag.String("mode", "zerocopy", `"zerocopy" (Reader.Loop) or "copy" (Reader.Next); probes that bypass the library's read path, counting netlink messages without decoding: "rawfd" (blocking recv(2) on Reader.Fd from a locked thread), "rawfd-raw" (the same through syscall.RawSyscall6), "rawfd-raw-walk" (rawfd-raw plus a lazy decode: each message's attribute offsets by type, then the payload length and the sequence number), "netpoll-mmsg" (the netpoller and recvmmsg, see pollReadMmsg), "netpoll" (the netpoller and recvfrom through syscall.Syscall6, as the library read before it switched to the raw call), "netpoll-raw" (the same through syscall.RawSyscall6, as the library reads now)`)
	threshold := flag.Uint("threshold", 64, "queue threshold (packets per batch)")
	flush := flag.Duration("flush", 100*time.Millisecond, "flush timeout")
	rcvbuf := flag.Int("rcvbuf", 8<<20, "socket receive buffer, bytes (0: system default)")
	maxRcvbuf := flag.Int("max-rcvbuf", 0, "grow the receive buffer on overrun up to this size, bytes (0: never)")
	nlbuf := flag.Uint("nlbuf", 65536, "kernel batch buffer (NLBUFSIZ), bytes (0: one page)")
	copyRange := flag.Uint("copy-range", 128, "bytes of each packet to copy (0: all)")
	ifnames := flag.Bool("ifnames", true, "resolve interface names (the library's default)")
	cancelCtx := flag.Bool("cancel-ctx", false, "read with a cancellable context (as the plugin does) instead of context.Background and Close")
	idle := flag.Duration("idle", time.Second, "exit after this long without packets, once one arrived")
	maxWait := flag.Duration("max-wait", time.Minute, "exit after this long if no packet arrives at all")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	readMode := flag.String("read-mode", "netpoll", `how the library waits for a datagram: "netpoll" or "blocking" (nflog.ReadBlocking)`)
	flag.Parse()

	var rm nflog.ReadMode
	switch *readMode {
	case "netpoll":
	case "blocking":
		rm = nflog.ReadBlocking
	default:
		fatal(fmt.Errorf(`-read-mode %q: use "netpoll" or "blocking"`, *readMode))
	}

	switch *mode {
	case "zerocopy", "copy", "rawfd", "rawfd-raw", "rawfd-raw-walk", "netpoll", "netpoll-raw", "netpoll-mmsg":
	default:
		fatal(fmt.Errorf(`-mode %q: use "zerocopy", "copy", "rawfd", "rawfd-raw", "rawfd-raw-walk", "netpoll", "netpoll-raw" or "netpoll-mmsg"`, *mode))
	}
	probe := *mode != "zerocopy" && *mode != "copy"
	cfg := nflog.Config{
		FlushTimeout:          *flush,
		QueueThreshold:        uint32(*threshold),
		ReadBufferSize:        *rcvbuf,
		MaxReadBufferSize:     *maxRcvbuf,
		NetlinkBufferSize:     uint32(*nlbuf),
		CopyMode:              nflog.CopyPacket,
		CopyRange:             uint32(*copyRange),
		Flags:                 nflog.FlagSequence,
		OnOverrun:             nflog.OverrunCount,
		DisableInterfaceNames: !*ifnames,
		ReadMode:              rm,
	}
	if *nsPath != "" {
		fd, err := unix.Open(*nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fatal(fmt.Errorf("opening -netns: %w", err))
		}
		defer unix.Close(fd)
		cfg.NetNS = fd
	}
	r, err := nflog.Open(*group, &cfg)
	if err != nil {
		fatal(err)
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	var handled, payloadBytes uint64 // owned by the reading goroutine until it ends
	finalRcvbuf := 0
	var mallocs uint64
	var stopping atomic.Bool
	report := func(snapshot bool) {
		st := r.Stats()
		res := result{
			Snapshot: snapshot, Mode: *mode,
			Received: st.Received, Overruns: st.Overruns, Lost: st.Lost,
			DecodeErrors: st.DecodeErrors, Growths: st.BufferGrowths,
		}
		if snapshot {
			res.Rcvbuf, _ = r.ReadBufferSize()
		} else {
			res.Handled, res.PayloadBytes, res.Rcvbuf, res.Mallocs = handled, payloadBytes, finalRcvbuf, mallocs
		}
		outMu.Lock()
		defer outMu.Unlock()
		out.Encode(res)
	}

	ctx := context.Background()
	var cancel context.CancelFunc = func() {}
	if *cancelCtx {
		ctx, cancel = context.WithCancel(ctx)
	}
	stop := sync.OnceFunc(func() {
		finalRcvbuf, _ = r.ReadBufferSize() // unreadable once closed
		stopping.Store(true)
		cancel()
		r.Close()
	})

	var rawCount rawCounter
	if probe {
		report = func(snapshot bool) {
			outMu.Lock()
			defer outMu.Unlock()
			n := rawCount.n.Load()
			out.Encode(result{Snapshot: snapshot, Mode: *mode, Received: n, Handled: n, Rcvbuf: finalRcvbuf})
		}
		rawCount.stats = func() uint64 { return rawCount.n.Load() }
	}

	// The watchdog ends the run on a signal or when packets stop coming;
	// it polls the reader's counters, so the per-packet path stays free
	// of any synchronisation.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(max(*idle/10, 10*time.Millisecond))
		defer tick.Stop()
		start := time.Now()
		var last uint64
		lastChange := start
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if s == syscall.SIGUSR1 {
					report(true)
					continue
				}
				stop()
				return
			case now := <-tick.C:
				st := r.Stats()
				n := st.Received + st.DecodeErrors
				if rawCount.stats != nil {
					n = rawCount.stats()
				}
				if n != last {
					last, lastChange = n, now
					continue
				}
				if (n > 0 && now.Sub(lastChange) >= *idle) || (n == 0 && now.Sub(start) >= *maxWait) {
					stop()
					return
				}
			}
		}
	}()

	var readErr error
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs0 := ms.Mallocs
	switch *mode {
	case "zerocopy":
		fn := func(p *nflog.Packet) error {
			handled++
			payloadBytes += uint64(len(p.Payload))
			return nil
		}
		for {
			err := r.Loop(ctx, -1, fn)
			if err == nil || nflog.IsTemporary(err) {
				continue
			}
			readErr = err
			break
		}
	case "rawfd", "rawfd-raw", "rawfd-raw-walk":
		readErr = rawRead(r.Fd(), *mode != "rawfd", *mode == "rawfd-raw-walk", &rawCount, &stopping)
	case "netpoll", "netpoll-raw":
		readErr = pollRead(r.Fd(), *mode == "netpoll-raw", &rawCount, &stopping)
	case "netpoll-mmsg":
		readErr = pollReadMmsg(r.Fd(), &rawCount, &stopping)
	case "copy":
		for {
			p, err := r.Next(ctx)
			if err == nil {
				handled++
				payloadBytes += uint64(len(p.Payload))
				continue
			}
			if nflog.IsTemporary(err) {
				continue
			}
			readErr = err
			break
		}
	}
	runtime.ReadMemStats(&ms)
	mallocs = ms.Mallocs - mallocs0
	close(done)
	// A read blocked while the reader is closed may fail with something
	// else than ErrClosed; only an error before stopping is worth telling.
	if readErr != nil && !stopping.Load() && !errors.Is(readErr, nflog.ErrClosed) {
		fmt.Fprintln(os.Stderr, "nflog-consumer: read:", readErr)
		stop()
		report(false)
		os.Exit(1)
	}
	stop()
	report(false)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "nflog-consumer:", err)
	os.Exit(1)
}

// rawCounter counts the messages of the rawfd probe.
type rawCounter struct {
	n atomic.Uint64
	// payload and seqs: rawfd-raw-walk's sums of the payload lengths and
	// sequence numbers, so that the walk is not optimised away.
	payload, seqs uint64
	stats         func() uint64
}

// rawRead is the rawfd probe: what a Go reader costs when it blocks in
// recv(2) on its own OS thread like the C reader, instead of parking in the
// netpoller. It counts NFULNL_MSG_PACKET messages and decodes nothing.
// With raw (rawfd-raw) the call goes through syscall.RawSyscall6, so the
// goroutine keeps its P while it blocks: fine for a probe, not for a
// library (bench/README.md). SO_RCVTIMEO bounds the block, and it makes a
// signal, such as the runtime's preemption signal, interrupt the call with
// EINTR instead of restarting it, so a garbage collection is not held up.
//
// With walk (rawfd-raw-walk) each message is decoded lazily, as
// libnetfilter_log does for the C reader: walkPackets.
func rawRead(fd int, raw, walk bool, c *rawCounter, stopping *atomic.Bool) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK); err != nil {
		return err
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for !stopping.Load() {
		var n int
		var err error
		if raw {
			r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_TRUNC, 0, 0)
			n = int(r)
			if e != 0 {
				err = e
			}
		} else {
			n, _, err = unix.Recvfrom(fd, buf, 0)
		}
		switch err {
		case nil:
		case unix.EAGAIN, unix.EINTR, unix.ENOBUFS:
			continue
		default:
			return err
		}
		if walk {
			c.n.Add(walkPackets(buf[:n], &c.payload, &c.seqs))
		} else {
			c.n.Add(countPackets(buf[:n]))
		}
	}
	return nil
}

// walkPackets is countPackets plus what a lazy decoder does per message,
// as libnetfilter_log's nflog_handle_packet (nfnl_parse_attr): the offset
// of each attribute in a table by type, then the two fields the C reader's
// callback reads, the payload's length and the sequence number.
func walkPackets(b []byte, payload, seqs *uint64) uint64 {
	const (
		nfulaPayload = 9
		nfulaSeq     = 12
		hdr          = unix.NLMSG_HDRLEN + 4 // nlmsghdr + nfgenmsg
	)
	var k uint64
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			break
		}
		if binary.NativeEndian.Uint16(b[4:]) == 0x0400 && l >= hdr { // NFULNL_MSG_PACKET
			k++
			var at [32]uint32
			for off := hdr; off+4 <= l; {
				al := int(binary.NativeEndian.Uint16(b[off:]))
				if al < 4 || off+al > l {
					break
				}
				if t := binary.NativeEndian.Uint16(b[off+2:]) & 0x7fff; t < uint16(len(at)) {
					at[t] = uint32(off)
				}
				off += (al + 3) &^ 3
			}
			if o := at[nfulaPayload]; o != 0 {
				*payload += uint64(binary.NativeEndian.Uint16(b[o:]) - 4)
			}
			if o := at[nfulaSeq]; o != 0 && int(o)+8 <= l {
				*seqs += uint64(binary.BigEndian.Uint32(b[o+4:]))
			}
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return k
}

// countPackets walks the netlink headers of a datagram and counts the
// NFULNL_MSG_PACKET messages.
func countPackets(b []byte) uint64 {
	var k uint64
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(*(*uint32)(unsafe.Pointer(&b[0])))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			break
		}
		if *(*uint16)(unsafe.Pointer(&b[4])) == 0x0400 { // NFULNL_MSG_PACKET
			k++
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return k
}

// pollFile returns a dup of the reader's socket registered with the
// netpoller (non-blocking) and its RawConn; reads on it are woken when
// stopping is set.
func pollFile(fd int, stopping *atomic.Bool) (*os.File, syscall.RawConn, error) {
	nfd, err := unix.Dup(fd)
	if err != nil {
		return nil, nil, err
	}
	f := os.NewFile(uintptr(nfd), "nflog")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	go func() { // wake the read when the run stops
		for !stopping.Load() {
			time.Sleep(50 * time.Millisecond)
		}
		f.SetReadDeadline(time.Unix(1, 0))
	}()
	return f, rc, nil
}

// pollRead is the netpoll probes: a dup of the reader's socket in Go's
// netpoller, read like the library reads (non-blocking recvfrom inside
// RawConn.Read), with the recvfrom issued through syscall.Syscall6 or,
// with raw, syscall.RawSyscall6 (which skips entersyscall/exitsyscall and
// so never wakes a sleeping sysmon thread; fine for a call that cannot block).
func pollRead(fd int, raw bool, c *rawCounter, stopping *atomic.Bool) error {
	f, rc, err := pollFile(fd, stopping)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for !stopping.Load() {
		var n uintptr
		var errno syscall.Errno
		err := rc.Read(func(fd uintptr) bool {
			if raw {
				n, _, errno = syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
			} else {
				n, _, errno = syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
			}
			return errno != unix.EAGAIN
		})
		if err != nil {
			if stopping.Load() {
				return nil
			}
			return err
		}
		switch errno {
		case 0:
			c.n.Add(countPackets(buf[:min(int(n), len(buf))]))
		case unix.EINTR, unix.ENOBUFS:
		default:
			return errno
		}
	}
	return nil
}

// pollReadMmsg is the netpoll-mmsg probe: like netpoll-raw, but it stays
// inside one RawConn.Read and reads with recvmmsg. When recvmmsg returns
// fewer datagrams than it asked for, the queue was empty, so it waits in the
// netpoller right away instead of making the recvfrom that would return
// EAGAIN. (Returning from RawConn.Read instead would lose that knowledge:
// the next Read resets the poller's ready flag and must try a read first.)
func pollReadMmsg(fd int, c *rawCounter, stopping *atomic.Bool) error {
	f, rc, err := pollFile(fd, stopping)
	if err != nil {
		return err
	}
	defer f.Close()
	const vlen = 8
	bufs := make([][]byte, vlen)
	iov := make([]unix.Iovec, vlen)
	hdrs := make([]unix.Mmsghdr, vlen)
	for i := range bufs {
		bufs[i] = make([]byte, 128<<10)
		iov[i].Base = &bufs[i][0]
		iov[i].SetLen(len(bufs[i]))
		hdrs[i].Hdr.Iov = &iov[i]
		hdrs[i].Hdr.SetIovlen(1)
	}
	var fail error
	err = rc.Read(func(fd uintptr) bool {
		for {
			if stopping.Load() {
				return true
			}
			n, _, errno := syscall.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), vlen, unix.MSG_DONTWAIT, 0, 0)
			switch errno {
			case 0:
			case unix.EAGAIN:
				return false
			case unix.EINTR, unix.ENOBUFS:
				continue
			default:
				fail = errno
				return true
			}
			for i := 0; i < int(n); i++ {
				c.n.Add(countPackets(bufs[i][:min(int(hdrs[i].Len), len(bufs[i]))]))
			}
			if int(n) < vlen {
				return false // the queue is empty: wait for the next datagram
			}
		}
	})
	if fail != nil {
		return fail
	}
	if err != nil && !stopping.Load() {
		return err
	}
	return nil
}
