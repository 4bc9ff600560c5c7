//go:build linux

// Command nflog-flood sends small UDP datagrams to a loopback address as fast
// as it can (or at a given rate), in batches of sendmmsg(2), to feed an NFLOG
// rule. It is the packet generator of the flood benchmark (nflog-bench).
//
//	nflog-flood -netns /run/netns/NAME -count 1000000 -duration 5s
//
// It stops after -count datagrams or -duration, whichever comes first, and
// prints {"sent": N, ...} as JSON on stdout. Only loopback destinations are
// accepted, and the sending socket is opened inside -netns (or the caller's
// namespace, e.g. under "ip netns exec"), so nothing leaves the machine.
//
// With -sources N the datagrams come from N distinct source addresses in
// 127.0.0.0/8 (every 127/8 address is local on lo), set per datagram with
// an IP_PKTINFO control message: the scan or spoofed flood a top-talkers
// ranking must survive, with each next datagram from another /24.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nflogr/telegraf-nflog/bench/internal/netns"
)

type result struct {
	Sent      int     `json:"sent"`
	Refused   int     `json:"refused"`
	Calls     int     `json:"calls"`
	ElapsedS  float64 `json:"elapsed_s"`
	RatePerS  float64 `json:"rate_per_s"`
	Stopped   string  `json:"stopped"` // "count", "duration" or "signal"
	Dst       string  `json:"dst"`
	Payload   int     `json:"payload"`
	BatchSize int     `json:"batch"`
	Sources   int     `json:"sources,omitempty"`
}

func main() {
	nsPath := flag.String("netns", "", "network namespace to send from (e.g. /run/netns/NAME); empty: the current one")
	dst := flag.String("dst", "127.0.0.1:9", "destination: a loopback address and port")
	size := flag.Int("size", 64, "UDP payload bytes per datagram")
	count := flag.Int("count", 1_000_000, "datagrams to send at most")
	dur := flag.Duration("duration", 5*time.Second, "time to send for at most")
	rate := flag.Float64("rate", 0, "datagrams per second at most (0: as fast as possible)")
	batch := flag.Int("batch", 64, "datagrams per sendmmsg call")
	sources := flag.Int("sources", 0, "send from this many distinct source addresses in 127.0.0.0/8 (a power of two up to 2^23; 0: the socket's own address; IPv4 only)")
	flag.Parse()

	if err := run(*nsPath, *dst, *size, *count, *dur, *rate, *batch, *sources); err != nil {
		fmt.Fprintln(os.Stderr, "nflog-flood:", err)
		os.Exit(1)
	}
}

func run(nsPath, dst string, size, count int, dur time.Duration, rate float64, batch, sources int) error {
	switch {
	case count <= 0 || dur <= 0:
		return errors.New("-count and -duration must be positive")
	case dur > 10*time.Minute:
		return errors.New("-duration is capped at 10m")
	case size < 0 || size > 65000:
		return errors.New("-size must be 0..65000")
	case batch < 1 || batch > 1024:
		return errors.New("-batch must be 1..1024")
	case rate < 0:
		return errors.New("-rate must be >= 0")
	case sources < 0 || sources > 1<<23 || sources&(sources-1) != 0:
		return errors.New("-sources must be 0 or a power of two up to 8388608")
	}
	ap, err := netip.ParseAddrPort(dst)
	if err != nil {
		return fmt.Errorf("-dst %q: %w", dst, err)
	}
	addr := ap.Addr().Unmap()
	if !addr.IsLoopback() || addr.Zone() != "" {
		return fmt.Errorf("-dst %s is not a loopback address: this generator only floods loopback", addr)
	}
	if nsPath != "" {
		if err := netns.Enter(nsPath); err != nil {
			return err
		}
	}

	family, name, nameLen := sockaddr(addr, ap.Port())
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	// A send timeout keeps the time bound even if the send buffer fills.
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return fmt.Errorf("SO_SNDTIMEO: %w", err)
	}

	payload := make([]byte, max(size, 1))[:size]
	iov := &unix.Iovec{Base: &payload[:1][0]}
	iov.SetLen(size)
	hdrs := make([]unix.Mmsghdr, batch)
	for i := range hdrs {
		h := &hdrs[i].Hdr
		h.Name = (*byte)(name)
		h.Namelen = nameLen
		h.Iov = iov
		h.SetIovlen(1)
	}

	var src *sourceWalk
	if sources > 0 {
		if !addr.Is4() {
			return errors.New("-sources needs an IPv4 -dst")
		}
		src = newSourceWalk(hdrs, sources)
	}

	res := result{Dst: netip.AddrPortFrom(addr, ap.Port()).String(), Payload: size, BatchSize: batch, Stopped: "count"}
	start := time.Now()
	deadline := start.Add(dur)
	attempts := 0
	for attempts < count {
		now := time.Now()
		if !now.Before(deadline) {
			res.Stopped = "duration"
			break
		}
		if rate > 0 {
			// Pace: attempts should not run ahead of rate*elapsed.
			due := start.Add(time.Duration(float64(attempts) / rate * float64(time.Second)))
			if d := due.Sub(now); d > 0 {
				time.Sleep(min(d, deadline.Sub(now)))
				continue
			}
		}
		n := min(batch, count-attempts)
		if rate > 0 {
			n = min(n, max(1, int(rate/1000))) // about a millisecond's worth
		}
		if src != nil {
			src.fill(n)
		}
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), 0, 0, 0)
		res.Calls++
		switch errno {
		case 0:
			res.Sent += int(r)
			attempts += int(r)
		case unix.EAGAIN, unix.EINTR:
			// Send timeout or signal: the loop re-checks the bounds.
		case unix.ENOBUFS, unix.ECONNREFUSED, unix.EPERM:
			// One datagram refused (a full queue, an ICMP error reported
			// on the socket, a netfilter drop): go on with the next.
			res.Refused++
			attempts++
		default:
			return fmt.Errorf("sendmmsg to %s: %w", res.Dst, errno)
		}
	}
	el := time.Since(start)
	res.ElapsedS = el.Seconds()
	if el > 0 {
		res.RatePerS = float64(res.Sent) / el.Seconds()
	}
	if src != nil {
		res.Sources = sources
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// sourceWalk gives each datagram of a batch its source address through an
// IP_PKTINFO control message (ipi_spec_dst is the source on send).
type sourceWalk struct {
	infos []*unix.Inet4Pktinfo
	mask  uint32
	next  uint32
}

func newSourceWalk(hdrs []unix.Mmsghdr, n int) *sourceWalk {
	w := &sourceWalk{mask: uint32(n - 1)}
	space := unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	buf := make([]byte, space*len(hdrs))
	for i := range hdrs {
		b := buf[i*space : (i+1)*space]
		c := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		c.Level, c.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		c.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		w.infos = append(w.infos, (*unix.Inet4Pktinfo)(unsafe.Pointer(&b[unix.CmsgLen(0)])))
		hdrs[i].Hdr.Control = &b[0]
		hdrs[i].Hdr.SetControllen(space)
	}
	return w
}

// fill sets the sources of the first n datagrams. The walk multiplies the
// counter by an odd constant modulo the power of two: a permutation, so
// every source is used once per n datagrams, and consecutive datagrams
// land in different /24s.
func (w *sourceWalk) fill(n int) {
	for _, info := range w.infos[:n] {
		idx := (w.next * 0x9E3779B1) & w.mask
		w.next++
		a := uint32(127)<<24 | (idx + 1)
		info.Spec_dst = [4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}
	}
}

// sockaddr returns the raw socket address of addr:port. The memory is
// heap-allocated and referenced from the headers through an unsafe.Pointer
// the caller keeps alive for the whole run.
func sockaddr(addr netip.Addr, port uint16) (family int, name unsafe.Pointer, nameLen uint32) {
	p := port>>8 | port<<8 // network byte order
	if addr.Is4() {
		return unix.AF_INET, unsafe.Pointer(&unix.RawSockaddrInet4{Family: unix.AF_INET, Port: p, Addr: addr.As4()}), unix.SizeofSockaddrInet4
	}
	return unix.AF_INET6, unsafe.Pointer(&unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: p, Addr: addr.As16()}), unix.SizeofSockaddrInet6
}
