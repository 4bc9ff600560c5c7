//go:build linux

package testutil

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

const (
	// trafficTimeout bounds the wall-clock time of every traffic helper
	// that takes a testing.TB.
	trafficTimeout = 30 * time.Second
	// maxCount bounds the count argument of the traffic helpers, as a guard
	// against a typo turning a test into a packet generator.
	maxCount = 1_000_000
	// maxFloodDuration bounds Flood's maxDur for the same reason.
	maxFloodDuration = 5 * time.Minute
)

// checkDst enforces the traffic rule: a destination must be a loopback
// address, or lie inside a subnet configured on an interface of ns (which,
// for a namespace made by NewNetNS, can only be a veth whose other end is in
// another test namespace).
func checkDst(ns *NetNS, ip netip.Addr) error {
	if ns == nil {
		return errors.New("testutil: traffic must be sent from a namespace created by NewNetNS, got nil *NetNS")
	}
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return nil
	}
	bare := ip.WithZone("")
	var ok bool
	err := ns.Do(func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifi := range ifs {
			addrs, err := ifi.Addrs()
			if err != nil {
				return err
			}
			for _, a := range addrs {
				ipn, isNet := a.(*net.IPNet)
				if !isNet {
					continue
				}
				addr, _ := netip.AddrFromSlice(ipn.IP)
				ones, _ := ipn.Mask.Size()
				if p := netip.PrefixFrom(addr.Unmap(), ones); p.IsValid() && p.Contains(bare) {
					ok = true
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("testutil: checking destination %s: %w", ip, err)
	}
	if !ok {
		return fmt.Errorf("testutil: refusing to send to %s: it is neither a loopback address nor inside a subnet configured in namespace %s", ip, ns.name)
	}
	return nil
}

func requireDst(tb testing.TB, ns *NetNS, ip netip.Addr) {
	tb.Helper()
	if err := checkDst(ns, ip); err != nil {
		tb.Fatal(err)
	}
}

func checkCount(tb testing.TB, what string, count int) {
	tb.Helper()
	if count < 0 || count > maxCount {
		tb.Fatalf("%s: count %d out of range [0, %d]", what, count, maxCount)
	}
}

// parseAddrPort parses an "ip:port" literal. Host names are rejected on
// purpose: resolving them would query DNS from inside the namespace.
func parseAddrPort(tb testing.TB, what, s string) netip.AddrPort {
	tb.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		tb.Fatalf("%s: destination %q must be an IP literal with port, like 127.0.0.1:9 or [::1]:9: %v", what, s, err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func network(base string, ip netip.Addr) string {
	if ip.Is4() {
		return base + "4"
	}
	return base + "6"
}

// ignorableSendErr reports errors that do not mean the helper is broken:
// ECONNREFUSED is a late ICMP port-unreachable (nothing listens, which is the
// normal case for NFLOG tests), EPERM is what a netfilter DROP/REJECT in
// OUTPUT returns to the sender; the packet has traversed the hooks in front
// of the dropping rule, so it was still seen by them.
func ignorableSendErr(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPERM)
}

// SendUDP sends count datagrams carrying payload from inside ns to dst
// ("127.0.0.1:9", "[::1]:9", or an address on a test veth). It uses an
// unconnected socket: a connected one would report the ICMP port
// unreachable triggered by one datagram as ECONNREFUSED on the next send.
// ECONNREFUSED and EPERM (netfilter drop) are ignored; any other error fails
// the test.
func SendUDP(tb testing.TB, ns *NetNS, dst string, payload []byte, count int) {
	tb.Helper()
	ap := parseAddrPort(tb, "SendUDP", dst)
	requireDst(tb, ns, ap.Addr())
	checkCount(tb, "SendUDP", count)
	var conn net.PacketConn
	err := ns.Do(func() (err error) {
		conn, err = net.ListenPacket(network("udp", ap.Addr()), ":0")
		return err
	})
	if err != nil {
		tb.Fatalf("SendUDP: socket in %s: %v", ns.name, err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(trafficTimeout)); err != nil {
		tb.Fatal(err)
	}
	to := net.UDPAddrFromAddrPort(ap)
	for i := 0; i < count; i++ {
		if _, err := conn.WriteTo(payload, to); err != nil && !ignorableSendErr(err) {
			tb.Fatalf("SendUDP: datagram %d/%d to %s: %v", i+1, count, dst, err)
		}
	}
}

// ListenUDP opens a UDP socket bound to addr ("ip:port"; port 0 picks a free
// one) inside ns. It is closed in cleanup.
func ListenUDP(tb testing.TB, ns *NetNS, addr string) net.PacketConn {
	tb.Helper()
	ap := parseAddrPort(tb, "ListenUDP", addr)
	var conn net.PacketConn
	err := ns.Do(func() (err error) {
		conn, err = net.ListenPacket(network("udp", ap.Addr()), ap.String())
		return err
	})
	if err != nil {
		tb.Fatalf("ListenUDP %s in %s: %v", addr, ns.name, err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// ListenTCP opens a TCP listener on addr ("ip:port"; port 0 picks a free
// one; use Addr() to learn it) inside ns. Until cleanup, a goroutine accepts
// every connection and reads and discards everything sent on it, so that
// [SendTCP] has a peer that completes the handshake and acknowledges data.
// Cleanup closes the listener and all accepted connections and waits for
// the goroutines.
func ListenTCP(tb testing.TB, ns *NetNS, addr string) net.Listener {
	tb.Helper()
	ap := parseAddrPort(tb, "ListenTCP", addr)
	var l net.Listener
	err := ns.Do(func() (err error) {
		l, err = net.Listen(network("tcp", ap.Addr()), ap.String())
		return err
	})
	if err != nil {
		tb.Fatalf("ListenTCP %s in %s: %v", addr, ns.name, err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  = map[net.Conn]struct{}{}
		closed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return // listener closed
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l
}

// SendTCP connects from inside ns to dst ("ip:port", which needs a listener,
// see [ListenTCP]), writes payload and closes the connection.
func SendTCP(tb testing.TB, ns *NetNS, dst string, payload []byte) {
	tb.Helper()
	ap := parseAddrPort(tb, "SendTCP", dst)
	requireDst(tb, ns, ap.Addr())
	var c net.Conn
	err := ns.Do(func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err = d.Dial(network("tcp", ap.Addr()), ap.String())
		return err
	})
	if err != nil {
		tb.Fatalf("SendTCP: connecting to %s from %s: %v", dst, ns.name, err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(trafficTimeout)); err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Write(payload); err != nil {
		tb.Fatalf("SendTCP: writing to %s: %v", dst, err)
	}
	if err := c.Close(); err != nil {
		tb.Fatalf("SendTCP: closing connection to %s: %v", dst, err)
	}
}

// Ping sends count ICMP (IPv4) or ICMPv6 echo requests with size bytes of
// data (like "ping -s size") from inside ns to the IP literal dst, through a
// raw socket. It does not wait for replies. The ICMPv4 checksum is computed
// here; for ICMPv6 the kernel always fills in the checksum on raw
// IPPROTO_ICMPV6 sockets (it covers a pseudo-header with the source address,
// which only the kernel knows). EPERM (netfilter drop) is ignored.
func Ping(tb testing.TB, ns *NetNS, dst string, count int, size int) {
	tb.Helper()
	ip, err := netip.ParseAddr(dst)
	if err != nil {
		tb.Fatalf("Ping: destination %q must be an IP literal: %v", dst, err)
	}
	ip = ip.Unmap()
	requireDst(tb, ns, ip)
	checkCount(tb, "Ping", count)
	if size < 0 || size > 65000 {
		tb.Fatalf("Ping: size %d out of range [0, 65000]", size)
	}
	netw, laddr, typ := "ip4:icmp", "0.0.0.0", byte(8)
	if ip.Is6() {
		netw, laddr, typ = "ip6:ipv6-icmp", "::", 128
	}
	var conn net.PacketConn
	err = ns.Do(func() (err error) {
		conn, err = net.ListenPacket(netw, laddr)
		return err
	})
	if err != nil {
		tb.Fatalf("Ping: raw socket in %s: %v", ns.name, err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(trafficTimeout)); err != nil {
		tb.Fatal(err)
	}
	to := &net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	id := uint16(os.Getpid())
	msg := make([]byte, 8+size)
	for i := range size {
		msg[8+i] = byte(i)
	}
	for seq := 0; seq < count; seq++ {
		msg[0], msg[1] = typ, 0
		binary.BigEndian.PutUint16(msg[2:], 0)
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], uint16(seq+1))
		if ip.Is4() {
			binary.BigEndian.PutUint16(msg[2:], checksum(msg))
		}
		if _, err := conn.WriteTo(msg, to); err != nil && !ignorableSendErr(err) {
			tb.Fatalf("Ping: echo request %d/%d to %s: %v", seq+1, count, dst, err)
		}
	}
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// SendUDPAs sends count one-byte UDP datagrams ("x") to dst:port from a
// separate process running inside ns with the given real and effective UID
// and GID and no supplementary groups:
//
//	ip netns exec NAME setpriv --reuid=U --regid=G --clear-groups bash -c \
//	  'for i in $(seq N); do echo -n x >/dev/udp/ADDR/PORT; done'
//
// A separate process is needed because the socket owner that netfilter
// reports (NFULA_UID/NFULA_GID, "-m owner") is the credentials of the
// process that created the socket, and a Go test cannot change its own
// credentials per thread safely. Each datagram is sent by a fresh socket
// (bash's /dev/udp), so an ICMP port unreachable cannot disturb later sends.
// Requires setpriv (util-linux) and bash.
func SendUDPAs(tb testing.TB, ns *NetNS, uid, gid int, dst netip.Addr, port int, count int) {
	tb.Helper()
	RequireTools(tb, "setpriv", "bash")
	dst = dst.Unmap()
	requireDst(tb, ns, dst)
	checkCount(tb, "SendUDPAs", count)
	if uid < 0 || gid < 0 || port <= 0 || port > 65535 {
		tb.Fatalf("SendUDPAs: invalid uid %d, gid %d or port %d", uid, gid, port)
	}
	if count == 0 {
		return
	}
	// Send errors are redirected into stdout and checked below; failures of
	// setpriv itself make the command fail.
	script := fmt.Sprintf("for i in $(seq %d); do echo -n x >/dev/udp/%s/%d || true; done 2>&1",
		count, dst.String(), port)
	out := ns.Run(tb, "setpriv", "--reuid="+strconv.Itoa(uid), "--regid="+strconv.Itoa(gid),
		"--clear-groups", "bash", "-c", script)
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.Contains(line, "Connection refused") || strings.Contains(line, "Operation not permitted") {
			continue
		}
		tb.Fatalf("SendUDPAs: unexpected error sending to %s:%d as %d:%d: %s", dst, port, uid, gid, out)
	}
}

// htons converts a 16-bit value to network byte order as stored in a
// host-endian struct field.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// SendRawFrame writes the complete Ethernet frame (destination MAC, source
// MAC, EtherType or 802.1Q tag, payload; no FCS) count times to the link
// ifname inside ns, through an AF_PACKET SOCK_RAW socket. This bypasses the
// IP stack, which is how a test injects e.g. VLAN-tagged frames into a
// bridge port: the frame leaves through one end of a veth and arrives on the
// other end as if received from a wire. The socket is opened with protocol
// 0, so it never receives anything.
func SendRawFrame(tb testing.TB, ns *NetNS, ifname string, frame []byte, count int) {
	tb.Helper()
	if ns == nil {
		tb.Fatal("SendRawFrame: nil *NetNS")
	}
	checkCount(tb, "SendRawFrame", count)
	if len(frame) < 14 {
		tb.Fatalf("SendRawFrame: frame of %d bytes is shorter than an Ethernet header", len(frame))
	}
	var fd, ifindex int
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		tb.Fatalf("SendRawFrame: packet socket on %s in %s: %v", ifname, ns.name, err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{
		// The EtherType (or 0x8100 for a tagged frame) from the frame;
		// it becomes skb->protocol on the transmit side.
		Protocol: htons(binary.BigEndian.Uint16(frame[12:14])),
		Ifindex:  ifindex,
		Halen:    6,
	}
	copy(sa.Addr[:], frame[:6])
	deadline := time.Now().Add(trafficTimeout)
	for i := 0; i < count; i++ {
		if time.Now().After(deadline) {
			tb.Fatalf("SendRawFrame: sent only %d/%d frames in %v", i, count, trafficTimeout)
		}
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			tb.Fatalf("SendRawFrame: frame %d/%d on %s: %v", i+1, count, ifname, err)
		}
	}
}

// UDP4Frame builds an Ethernet frame carrying an IPv4/UDP datagram (TTL 64,
// DF, correct IP and UDP checksums), for [SendRawFrame]. vlanID 0 means
// untagged; 1..4094 inserts an 802.1Q tag with that VLAN ID and priority 0.
// gopacket serialises the layers.
func UDP4Frame(dstMAC, srcMAC net.HardwareAddr, vlanID int, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	src, dst = src.Unmap(), dst.Unmap()
	if !src.Is4() || !dst.Is4() || len(dstMAC) != 6 || len(srcMAC) != 6 || vlanID < 0 || vlanID > 4094 {
		panic(fmt.Sprintf("testutil.UDP4Frame: invalid arguments (dst MAC %v, src MAC %v, vlan %d, src %v, dst %v)", dstMAC, srcMAC, vlanID, src, dst))
	}
	eth := &layers.Ethernet{DstMAC: dstMAC, SrcMAC: srcMAC, EthernetType: layers.EthernetTypeIPv4}
	frame := []gopacket.SerializableLayer{eth}
	if vlanID != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		frame = append(frame, &layers.Dot1Q{VLANIdentifier: uint16(vlanID), Type: layers.EthernetTypeIPv4})
	}
	ip := &layers.IPv4{
		Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolUDP,
		SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
	}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		panic("testutil.UDP4Frame: " + err.Error())
	}
	frame = append(frame, ip, udp, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, frame...); err != nil {
		panic("testutil.UDP4Frame: " + err.Error())
	}
	// gopacket pads an Ethernet frame to the 60-byte minimum. The padding
	// is cut: SendRawFrame sends the frame as given (a veth pads nothing),
	// and a test expects the packet it built, byte for byte.
	n := 14 + 20 + 8 + len(payload)
	if vlanID != 0 {
		n += 4
	}
	return buf.Bytes()[:n]
}

// floodBatch is the number of datagrams per sendmmsg(2) call.
const floodBatch = 64

// Flood sends UDP datagrams with payloadSize zero bytes from inside ns to
// dst ("127.0.0.1:9", "[::1]:9", or an address on a test veth) as fast as
// it can, to provoke queue overruns in the code under test. It stops after
// max send attempts, after maxDur, or when ctx is done, whichever comes
// first; stopping through ctx is not an error. It returns how many
// datagrams the kernel accepted (every accepted datagram has passed the
// OUTPUT hooks).
//
// x/sys/unix has no Sendmmsg wrapper, so the syscall is issued directly
// with unix.Mmsghdr, batching floodBatch datagrams per call; a plain
// sendto(2) loop is the fallback if the kernel lacks sendmmsg. The socket
// is unconnected (an ICMP port unreachable would otherwise fail the next
// send) and has a 100 ms send timeout so the time bound holds even if the
// send buffer fills.
func Flood(ctx context.Context, ns *NetNS, dst string, payloadSize int, max int, maxDur time.Duration) (sent int, err error) {
	if max <= 0 || maxDur <= 0 || maxDur > maxFloodDuration {
		return 0, fmt.Errorf("testutil: Flood needs max > 0 and 0 < maxDur <= %v (got %d, %v)", maxFloodDuration, max, maxDur)
	}
	if payloadSize < 0 || payloadSize > 65000 {
		return 0, fmt.Errorf("testutil: Flood payload size %d out of range [0, 65000]", payloadSize)
	}
	ap, err := netip.ParseAddrPort(dst)
	if err != nil {
		return 0, fmt.Errorf("testutil: Flood destination %q must be an IP literal with port: %w", dst, err)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if err := checkDst(ns, ap.Addr()); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(maxDur)

	var sa unix.Sockaddr
	family := unix.AF_INET
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = unix.AF_INET6
		// A zone (link-local destination) is resolved to an index
		// below, inside ns, where the interface exists.
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	var fd int
	err = ns.Do(func() (err error) {
		if s6, ok := sa.(*unix.SockaddrInet6); ok && ap.Addr().Zone() != "" {
			ifi, err := net.InterfaceByName(ap.Addr().Zone())
			if err != nil {
				return err
			}
			s6.ZoneId = uint32(ifi.Index)
		}
		fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("testutil: Flood socket in %s: %w", ns.name, err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return 0, fmt.Errorf("testutil: Flood SO_SNDTIMEO: %w", err)
	}

	payload := make([]byte, payloadSize)
	attempts := 0
	useSendto := false
	mm := newMmsgs(sa, payload, floodBatch)
	for attempts < max && ctx.Err() == nil && time.Now().Before(deadline) {
		n := min(floodBatch, max-attempts)
		var k int
		var err error
		if useSendto {
			err = unix.Sendto(fd, payload, 0, sa)
			k = 1
		} else {
			k, err = mm.send(fd, n)
		}
		switch {
		case err == nil:
			sent += k
			attempts += k
		case errors.Is(err, unix.ENOSYS) && !useSendto:
			useSendto = true
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			// Send timeout or signal: the loop condition re-checks the
			// time and context bounds.
		case errors.Is(err, unix.ENOBUFS), ignorableSendErr(err):
			attempts++ // this datagram was refused; go on
		default:
			return sent, fmt.Errorf("testutil: Flood to %s: %w", dst, err)
		}
	}
	return sent, nil
}

// mmsgs is a batch of sendmmsg(2) headers that all point at the same
// destination and payload. Everything lives in heap memory referenced by Go
// pointers from the headers, so the GC keeps it alive and in place during
// the syscall.
type mmsgs struct {
	hdrs []unix.Mmsghdr
	keep []any
}

func newMmsgs(sa unix.Sockaddr, payload []byte, n int) *mmsgs {
	m := &mmsgs{hdrs: make([]unix.Mmsghdr, n)}
	var name unsafe.Pointer
	var nameLen uint32
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		raw := &unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(uint16(sa.Port)), Addr: sa.Addr}
		name, nameLen = unsafe.Pointer(raw), unix.SizeofSockaddrInet4
		m.keep = append(m.keep, raw)
	case *unix.SockaddrInet6:
		raw := &unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(uint16(sa.Port)), Addr: sa.Addr, Scope_id: sa.ZoneId}
		name, nameLen = unsafe.Pointer(raw), unix.SizeofSockaddrInet6
		m.keep = append(m.keep, raw)
	}
	iov := &unix.Iovec{}
	if len(payload) > 0 {
		iov.Base = &payload[0]
	}
	iov.SetLen(len(payload))
	m.keep = append(m.keep, iov, payload)
	for i := range m.hdrs {
		h := &m.hdrs[i].Hdr
		h.Name = (*byte)(name)
		h.Namelen = nameLen
		h.Iov = iov
		h.SetIovlen(1)
	}
	return m
}

// send issues one sendmmsg(2) for the first n headers and returns how many
// datagrams the kernel took. The kernel reports an error only if the first
// datagram fails; otherwise it returns the count up to the first failure.
func (m *mmsgs) send(fd, n int) (int, error) {
	r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
