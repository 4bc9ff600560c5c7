//go:build linux

package nflog_test

// Kernel tests: each creates fresh network namespaces with testutil,
// installs iptables or nft rules there, sends bounded traffic to loopback
// or to the test's own namespaces, and asserts the fields a Reader decodes
// from what the running kernel sent. They need root (CAP_NET_ADMIN and
// CAP_SYS_ADMIN) and iproute2, iptables, nftables; outside CI a missing
// prerequisite skips them, with CI=true it fails them. -short skips them.
//
// This file holds the shared helpers and the packet-content scenarios
// (protocols, hooks, uid/gid, marks, prefixes, copy range);
// kernel_reader_linux_test.go the reader mechanics (batching, sequence,
// overruns, concurrency, Close); kernel_link_linux_test.go the link-layer
// scenarios (renames, bridges, netdev/bridge/arp families, conntrack,
// pcap round trip).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/nflog"
	"github.com/nflogr/telegraf-nflog/testutil"
)

// readTimeout bounds every single read of a kernel test: the kernel sends at
// once (flush timeout 0, threshold 1), so anything close to it is a hang.
const readTimeout = 5 * time.Second

// quiet is how long a test waits to be sure no further packet comes.
const quiet = 150 * time.Millisecond

// requireKernel is the common gate of the kernel tests.
func requireKernel(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("kernel test: skipped with -short")
	}
	testutil.RequireRoot(t)
	testutil.RequireTools(t, append([]string{"ip", "iptables", "ip6tables", "nft"}, tools...)...)
}

// newNS returns a fresh namespace, after the gate.
func newNS(t *testing.T, tools ...string) *testutil.NetNS {
	t.Helper()
	requireKernel(t, tools...)
	return testutil.NewNetNS(t)
}

// openReader opens a reader for group in ns with cfg (NetNS is filled in)
// and closes it in cleanup, before the namespace goes away.
func openReader(t *testing.T, ns *testutil.NetNS, group int, cfg nflog.Config) *nflog.Reader {
	t.Helper()
	cfg.NetNS = ns.FD()
	r, err := nflog.Open(group, &cfg)
	require.NoError(t, err, "nflog.Open(%d)", group)
	t.Cleanup(func() { r.Close() })
	return r
}

// next reads one packet with a hard timeout and fails the test on error.
func next(t *testing.T, r *nflog.Reader) nflog.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	p, err := r.Next(ctx)
	require.NoError(t, err, "reading a logged packet (stats %+v)", r.Stats())
	return p
}

// requireNoPacket asserts that nothing more arrives within quiet.
func requireNoPacket(t *testing.T, r *nflog.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), quiet)
	defer cancel()
	p, err := r.Next(ctx)
	if err == nil {
		t.Fatalf("unexpected extra packet: %s", describe(&p))
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// describe formats a packet for failure messages.
func describe(p *nflog.Packet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "family=%v group=%d hook=%s proto=%#04x prefix=%q in=%q out=%q physin=%q physout=%q mark=%#x payload=%dB",
		p.Family, p.Group, nflog.HookName(p.Family, p.Hook), p.HwProtocol, p.Prefix, p.InDevName, p.OutDevName, p.PhysInDevName, p.PhysOutDevName, p.Mark, len(p.Payload))
	if l, ok := p.Layers(); ok {
		fmt.Fprintf(&b, " %v > %v ip_proto=%d len=%d", l.Src, l.Dst, l.Protocol, l.Length)
		if l.HasPorts {
			fmt.Fprintf(&b, " ports %d > %d", l.SrcPort, l.DstPort)
		}
	}
	return b.String()
}

// layers returns p's decoded layers, failing the test when there are none.
func layers(t *testing.T, p *nflog.Packet) nflog.Layers {
	t.Helper()
	l, ok := p.Layers()
	require.True(t, ok, "Layers() of %s", describe(p))
	return l
}

// requireTimestamp checks the kernel timestamp's presence (hooks up to
// FORWARD only) and that Timestamp, kernel's or receive time, is now.
func requireTimestamp(t *testing.T, p *nflog.Packet, fromKernel bool) {
	t.Helper()
	require.Equal(t, fromKernel, p.Has(nflog.AttrTimestamp), "Has(AttrTimestamp) at hook %v", p.Hook)
	require.WithinDuration(t, time.Now(), p.Timestamp, 3*time.Second, "timestamp at hook %v", p.Hook)
}

// udpID is the payload format that gives each datagram of a test a number.
func udpID(i int) []byte { return fmt.Appendf(nil, "nflog-test-%08d", i) }

// payloadID reads back the number of udpID from a logged UDP packet.
func payloadID(p *nflog.Packet) (int, error) {
	l, ok := p.Layers()
	if !ok || l.Protocol != syscall.IPPROTO_UDP {
		return 0, fmt.Errorf("not a UDP packet: %s", describe(p))
	}
	data := p.Payload[min(l.TransportOffset+8, len(p.Payload)):]
	s, ok := strings.CutPrefix(string(data), "nflog-test-")
	if !ok {
		return 0, fmt.Errorf("payload %q has no test number", data)
	}
	return strconv.Atoi(s)
}

// loopbackSender sends UDP datagrams from one socket inside ns to a
// loopback address, for tests that send many numbered datagrams (SendUDP
// opens a socket per call).
type loopbackSender struct {
	conn net.PacketConn
	to   *net.UDPAddr
}

func newLoopbackSender(t *testing.T, ns *testutil.NetNS, dst string) *loopbackSender {
	t.Helper()
	ap := netip.MustParseAddrPort(dst)
	require.True(t, ap.Addr().IsLoopback(), "loopbackSender sends to loopback only, not %s", dst)
	var conn net.PacketConn
	require.NoError(t, ns.Do(func() (err error) {
		conn, err = net.ListenPacket("udp", ":0")
		return err
	}))
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetWriteDeadline(time.Now().Add(30*time.Second)))
	return &loopbackSender{conn: conn, to: net.UDPAddrFromAddrPort(ap)}
}

// send sends one datagram; a late ICMP port unreachable (ECONNREFUSED) is
// expected, nothing listens.
func (s *loopbackSender) send(t *testing.T, payload []byte) {
	t.Helper()
	if _, err := s.conn.WriteTo(payload, s.to); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("sending to %v: %v", s.to, err)
	}
}

// port returns the local port of the sender's socket.
func (s *loopbackSender) port() uint16 {
	return uint16(s.conn.LocalAddr().(*net.UDPAddr).Port)
}

// TestKernelProtocols logs UDP, ICMP and a TCP SYN over IPv4 and IPv6 at
// OUTPUT and checks the addresses, ports, protocol, ICMP type, TCP flags and
// the IP length decoded from the payload.
func TestKernelProtocols(t *testing.T) {
	type proto struct {
		name     string
		v6       bool
		rule     []string // match, before -j NFLOG; for TCP "%d" is the port
		send     func(t *testing.T, ns *testutil.NetNS) uint16
		ipProto  uint8
		length   int // IP total length
		check    func(t *testing.T, l nflog.Layers, port uint16)
		hwProto  uint16
		family   nflog.Family
		loopback string
	}
	udpCheck := func(t *testing.T, l nflog.Layers, _ uint16) {
		require.True(t, l.HasPorts)
		require.NotZero(t, l.SrcPort)
		require.Equal(t, uint16(9), l.DstPort)
		require.False(t, l.HasICMP)
	}
	tcpSend := func(addr string) func(t *testing.T, ns *testutil.NetNS) uint16 {
		return func(t *testing.T, ns *testutil.NetNS) uint16 {
			l := testutil.ListenTCP(t, ns, addr)
			port := uint16(l.Addr().(*net.TCPAddr).Port)
			return port
		}
	}
	tcpCheck := func(t *testing.T, l nflog.Layers, port uint16) {
		require.True(t, l.HasPorts)
		require.NotZero(t, l.SrcPort)
		require.Equal(t, port, l.DstPort)
		require.Equal(t, uint8(0x02), l.TCPFlags, "TCP flags of the first packet of a connection: SYN only")
	}
	cases := []proto{
		{
			name: "udp4", rule: []string{"-p", "udp", "--dport", "9"},
			send: func(t *testing.T, ns *testutil.NetNS) uint16 {
				testutil.SendUDP(t, ns, "127.0.0.1:9", make([]byte, 100), 1)
				return 9
			},
			ipProto: 17, length: 20 + 8 + 100, check: udpCheck, hwProto: 0x0800, family: nflog.FamilyIPv4, loopback: "127.0.0.1",
		},
		{
			name: "udp6", v6: true, rule: []string{"-p", "udp", "--dport", "9"},
			send: func(t *testing.T, ns *testutil.NetNS) uint16 {
				testutil.SendUDP(t, ns, "[::1]:9", make([]byte, 100), 1)
				return 9
			},
			ipProto: 17, length: 40 + 8 + 100, check: udpCheck, hwProto: 0x86dd, family: nflog.FamilyIPv6, loopback: "::1",
		},
		{
			name: "icmp4", rule: []string{"-p", "icmp", "--icmp-type", "echo-request"},
			send: func(t *testing.T, ns *testutil.NetNS) uint16 {
				testutil.Ping(t, ns, "127.0.0.1", 1, 56)
				return 0
			},
			ipProto: 1, length: 20 + 8 + 56, hwProto: 0x0800, family: nflog.FamilyIPv4, loopback: "127.0.0.1",
			check: func(t *testing.T, l nflog.Layers, _ uint16) {
				require.True(t, l.HasICMP)
				require.False(t, l.HasPorts)
				require.Equal(t, uint8(8), l.ICMPType)
				require.Equal(t, uint8(0), l.ICMPCode)
			},
		},
		{
			name: "icmp6", v6: true, rule: []string{"-p", "ipv6-icmp", "--icmpv6-type", "echo-request"},
			send: func(t *testing.T, ns *testutil.NetNS) uint16 {
				testutil.Ping(t, ns, "::1", 1, 56)
				return 0
			},
			ipProto: 58, length: 40 + 8 + 56, hwProto: 0x86dd, family: nflog.FamilyIPv6, loopback: "::1",
			check: func(t *testing.T, l nflog.Layers, _ uint16) {
				require.True(t, l.HasICMP)
				require.Equal(t, uint8(128), l.ICMPType)
				require.Equal(t, uint8(0), l.ICMPCode)
			},
		},
		// A Linux SYN carries MSS, SACK-permitted, timestamps and window
		// scale: a 40-byte TCP header.
		{
			name: "tcp4", rule: []string{"-p", "tcp", "--syn"}, send: tcpSend("127.0.0.1:0"),
			ipProto: 6, length: 20 + 40, check: tcpCheck, hwProto: 0x0800, family: nflog.FamilyIPv4, loopback: "127.0.0.1",
		},
		{
			name: "tcp6", v6: true, rule: []string{"-p", "tcp", "--syn"}, send: tcpSend("[::1]:0"),
			ipProto: 6, length: 40 + 40, check: tcpCheck, hwProto: 0x86dd, family: nflog.FamilyIPv6, loopback: "::1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNS(t)
			ipt := ns.Iptables
			if tc.v6 {
				ipt = ns.Ip6tables
			}
			rule := append([]string{"-A", "OUTPUT", "-o", "lo"}, tc.rule...)
			ipt(t, append(rule, "-j", "NFLOG", "--nflog-group", "3", "--nflog-prefix", tc.name)...)
			r := openReader(t, ns, 3, nflog.Config{})
			lo := uint32(testutil.LinkIndex(t, ns, "lo"))

			port := tc.send(t, ns)
			if tc.ipProto == 6 {
				testutil.SendTCP(t, ns, net.JoinHostPort(tc.loopback, strconv.Itoa(int(port))), []byte("hello"))
			}
			p := next(t, r)

			require.Equal(t, tc.family, p.Family)
			require.Equal(t, uint16(3), p.Group)
			require.Equal(t, tc.hwProto, p.HwProtocol)
			require.Equal(t, nflog.HookOutput, p.Hook)
			require.Equal(t, tc.name, p.Prefix)
			require.Equal(t, lo, p.OutDev)
			require.Equal(t, "lo", p.OutDevName)
			require.False(t, p.Has(nflog.AttrInDev))
			requireTimestamp(t, &p, false)
			require.Len(t, p.Payload, tc.length, "whole packet copied")

			l := layers(t, &p)
			want := netip.MustParseAddr(tc.loopback)
			require.Equal(t, want, l.Src)
			require.Equal(t, want, l.Dst)
			require.Equal(t, tc.ipProto, l.Protocol)
			require.Equal(t, tc.length, l.Length)
			require.Equal(t, uint8(64), l.TTL)
			require.False(t, l.Fragment)
			tc.check(t, l, port)
			requireNoPacket(t, r)
		})
	}
}

// TestKernelLocalHooks logs one loopback UDP datagram at the four hooks a
// local packet crosses: OUTPUT and POSTROUTING on the way out, PREROUTING
// and INPUT on the way in, in that order. Only PREROUTING and INPUT carry a
// kernel timestamp and the input device's link-layer data.
func TestKernelLocalHooks(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name, dst, hwProto := "ipv4", "127.0.0.1:9", uint16(0x0800)
		if v6 {
			name, dst, hwProto = "ipv6", "[::1]:9", 0x86dd
		}
		t.Run(name, func(t *testing.T) {
			ns := newNS(t)
			ipt := ns.Iptables
			if v6 {
				ipt = ns.Ip6tables
			}
			nflogArgs := func(prefix string) []string {
				return []string{"-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "1", "--nflog-prefix", prefix}
			}
			ipt(t, append([]string{"-t", "raw", "-A", "PREROUTING", "-i", "lo"}, nflogArgs("pre")...)...)
			ipt(t, append([]string{"-A", "INPUT", "-i", "lo"}, nflogArgs("in")...)...)
			ipt(t, append([]string{"-A", "OUTPUT", "-o", "lo"}, nflogArgs("out")...)...)
			ipt(t, append([]string{"-t", "mangle", "-A", "POSTROUTING", "-o", "lo"}, nflogArgs("post")...)...)
			r := openReader(t, ns, 1, nflog.Config{})
			lo := uint32(testutil.LinkIndex(t, ns, "lo"))

			testutil.SendUDP(t, ns, dst, []byte("hooks"), 1)
			for _, want := range []struct {
				prefix string
				hook   nflog.Hook
			}{
				{"out", nflog.HookOutput},
				{"post", nflog.HookPostrouting},
				{"pre", nflog.HookPrerouting},
				{"in", nflog.HookInput},
			} {
				p := next(t, r)
				require.Equal(t, want.prefix, p.Prefix, describe(&p))
				require.Equal(t, want.hook, p.Hook)
				require.Equal(t, hwProto, p.HwProtocol)
				l := layers(t, &p)
				require.Equal(t, uint16(9), l.DstPort)
				require.Equal(t, 20+8+5+20*btoi(v6), l.Length)
				incoming := want.hook <= nflog.HookForward
				requireTimestamp(t, &p, incoming)
				if incoming {
					require.Equal(t, lo, p.InDev)
					require.Equal(t, "lo", p.InDevName)
					require.False(t, p.Has(nflog.AttrOutDev))
					// Loopback: ARPHRD_LOOPBACK, a zero MAC, a 14-byte header.
					require.True(t, p.Has(nflog.AttrHwType))
					require.Equal(t, uint16(772), p.HwType)
					require.Equal(t, make([]byte, 6), p.HwAddr)
					require.Len(t, p.HwHeader, 14)
					require.Equal(t, uint16(14), p.HwLen)
				} else {
					require.Equal(t, lo, p.OutDev)
					require.Equal(t, "lo", p.OutDevName)
					require.False(t, p.Has(nflog.AttrInDev))
					require.False(t, p.Has(nflog.AttrHwType))
					require.False(t, p.Has(nflog.AttrHwAddr))
				}
			}
			requireNoPacket(t, r)
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestKernelForwardHook routes a datagram through a router namespace and
// logs it there at PREROUTING, FORWARD and POSTROUTING: devices, the
// sender's MAC, the TTL decremented before FORWARD, timestamps (not at
// POSTROUTING, although the input device is known there).
//
//	client c0 198.18.1.2 ── r0 198.18.1.1 router r1 198.18.2.1 ── s0 198.18.2.2 server
func TestKernelForwardHook(t *testing.T) {
	requireKernel(t, "sysctl")
	client, router, server := testutil.NewNetNS(t), testutil.NewNetNS(t), testutil.NewNetNS(t)
	// The client's /16 puts the server's address in a subnet of its own
	// (testutil's destination rule); the /24 route sends it via the router.
	client.AddVeth(t, router, "c0", "r0", "198.18.1.2/16", "198.18.1.1/24")
	router.AddVeth(t, server, "r1", "s0", "198.18.2.1/24", "198.18.2.2/24")
	client.Run(t, "ip", "route", "add", "198.18.2.0/24", "via", "198.18.1.1", "dev", "c0")
	router.Run(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")

	match := []string{"-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "2", "--nflog-prefix"}
	router.Iptables(t, append([]string{"-t", "mangle", "-A", "PREROUTING", "-i", "r0"}, append(match, "pre")...)...)
	router.Iptables(t, append([]string{"-A", "FORWARD", "-i", "r0", "-o", "r1"}, append(match, "fwd")...)...)
	router.Iptables(t, append([]string{"-t", "mangle", "-A", "POSTROUTING", "-o", "r1"}, append(match, "post")...)...)
	r := openReader(t, router, 2, nflog.Config{})

	clientMAC := testutil.HardwareAddr(t, client, "c0")
	r0MAC := testutil.HardwareAddr(t, router, "r0")
	r0, r1 := uint32(testutil.LinkIndex(t, router, "r0")), uint32(testutil.LinkIndex(t, router, "r1"))
	testutil.SendUDP(t, client, "198.18.2.2:9", []byte("forward me"), 1)

	for _, want := range []struct {
		prefix string
		hook   nflog.Hook
		in     uint32
		out    uint32
		ttl    uint8
	}{
		{"pre", nflog.HookPrerouting, r0, 0, 64},
		{"fwd", nflog.HookForward, r0, r1, 63},
		// ip_output passes the input device to POSTROUTING: a forwarded
		// packet keeps INDEV and the received frame's header there.
		{"post", nflog.HookPostrouting, r0, r1, 63},
	} {
		p := next(t, r)
		require.Equal(t, want.prefix, p.Prefix, describe(&p))
		require.Equal(t, nflog.FamilyIPv4, p.Family)
		require.Equal(t, want.hook, p.Hook)
		require.Equal(t, want.in, p.InDev)
		require.Equal(t, want.out, p.OutDev)
		require.True(t, p.Has(nflog.AttrInDev))
		require.Equal(t, want.out != 0, p.Has(nflog.AttrOutDev))
		require.Equal(t, "r0", p.InDevName)
		if want.out != 0 {
			require.Equal(t, "r1", p.OutDevName)
		}
		// The frame as it arrived on r0.
		require.Equal(t, []byte(clientMAC), p.HwAddr)
		require.Equal(t, uint16(1), p.HwType)
		require.Equal(t, append(append(append([]byte{}, r0MAC...), clientMAC...), 0x08, 0x00), p.HwHeader)
		requireTimestamp(t, &p, want.hook <= nflog.HookForward)
		l := layers(t, &p)
		require.Equal(t, netip.MustParseAddr("198.18.1.2"), l.Src)
		require.Equal(t, netip.MustParseAddr("198.18.2.2"), l.Dst)
		require.Equal(t, uint8(17), l.Protocol)
		require.Equal(t, uint16(9), l.DstPort)
		require.Equal(t, 20+8+10, l.Length)
		require.Equal(t, want.ttl, l.TTL)
	}
	requireNoPacket(t, r)
}

// TestKernelUIDGID: a datagram sent by a process running as 1234:5678
// carries that uid and gid; the ICMP port unreachable the kernel sends back
// has no socket owner, so neither attribute.
func TestKernelUIDGID(t *testing.T) {
	ns := newNS(t, "setpriv", "bash")
	ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "1", "--nflog-prefix", "udp")
	ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "icmp", "--icmp-type", "port-unreachable", "-j", "NFLOG", "--nflog-group", "1", "--nflog-prefix", "icmp")
	r := openReader(t, ns, 1, nflog.Config{})

	testutil.SendUDPAs(t, ns, 1234, 5678, netip.MustParseAddr("127.0.0.1"), 9, 1)

	p := next(t, r)
	require.Equal(t, "udp", p.Prefix, describe(&p))
	require.True(t, p.Has(nflog.AttrUID))
	require.True(t, p.Has(nflog.AttrGID))
	require.Equal(t, uint32(1234), p.UID)
	require.Equal(t, uint32(5678), p.GID)
	require.Equal(t, []byte("x"), p.Payload[28:])

	p = next(t, r)
	require.Equal(t, "icmp", p.Prefix, describe(&p))
	l := layers(t, &p)
	require.Equal(t, uint8(3), l.ICMPType)
	require.Equal(t, uint8(3), l.ICMPCode)
	require.False(t, p.Has(nflog.AttrUID), "kernel-generated reply has no uid")
	require.False(t, p.Has(nflog.AttrGID), "kernel-generated reply has no gid")
	require.Zero(t, p.UID)
	require.Zero(t, p.GID)
	requireNoPacket(t, r)
}

// TestKernelMark: -j MARK before the NFLOG rule sets the mark attribute, a
// packet without a mark has none.
func TestKernelMark(t *testing.T) {
	ns := newNS(t)
	ns.Iptables(t, "-t", "mangle", "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j", "MARK", "--set-mark", "0xdeadbeef")
	ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "-m", "multiport", "--dports", "9,10", "-j", "NFLOG", "--nflog-group", "1")
	r := openReader(t, ns, 1, nflog.Config{})

	testutil.SendUDP(t, ns, "127.0.0.1:9", []byte("marked"), 1)
	testutil.SendUDP(t, ns, "127.0.0.1:10", []byte("unmarked"), 1)

	p := next(t, r)
	require.Equal(t, uint16(9), layers(t, &p).DstPort)
	require.True(t, p.Has(nflog.AttrMark))
	require.Equal(t, uint32(0xdeadbeef), p.Mark)

	p = next(t, r)
	require.Equal(t, uint16(10), layers(t, &p).DstPort)
	require.False(t, p.Has(nflog.AttrMark))
	require.Zero(t, p.Mark)
}

// TestKernelPrefixes: the prefix comes back byte for byte, whatever it
// holds, from iptables (argv carries raw bytes) and nft rules; the attribute
// is sent even when empty. iptables-nft cuts a longer prefix to 127 bytes.
func TestKernelPrefixes(t *testing.T) {
	ns := newNS(t)
	long := strings.Repeat("p", 127)
	cases := []struct {
		name   string
		nft    bool
		prefix string // "" with set false: no prefix option
		set    bool
		want   string
	}{
		{name: "iptables none", want: ""},
		{name: "iptables 127 bytes", set: true, prefix: long, want: long},
		{name: "iptables 200 bytes cut to 127", set: true, prefix: strings.Repeat("q", 200), want: strings.Repeat("q", 127)},
		{name: "iptables spaces", set: true, prefix: "  two  spaces ", want: "  two  spaces "},
		{name: "iptables utf-8", set: true, prefix: "DROP é ✓", want: "DROP é ✓"},
		{name: "iptables invalid utf-8", set: true, prefix: "bad\xff\xfe\xc3 end", want: "bad\xff\xfe\xc3 end"},
		{name: "nft empty", nft: true, set: true, prefix: "", want: ""},
		{name: "nft 127 bytes", nft: true, set: true, prefix: long, want: long},
		{name: "nft utf-8", nft: true, set: true, prefix: "nft é ✓ ", want: "nft é ✓ "},
		{name: "nft invalid utf-8", nft: true, set: true, prefix: "raw\xff\x80x", want: "raw\xff\x80x"},
	}
	var nft strings.Builder
	nft.WriteString("table ip prefixes {\n\tchain out {\n\t\ttype filter hook output priority 0;\n")
	for i, tc := range cases {
		port := strconv.Itoa(1000 + i)
		switch {
		case tc.nft:
			fmt.Fprintf(&nft, "\t\toif lo udp dport %s log prefix \"%s\" group 1\n", port, tc.prefix)
		case tc.set:
			ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", port, "-j", "NFLOG", "--nflog-group", "1", "--nflog-prefix", tc.prefix)
		default:
			ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", port, "-j", "NFLOG", "--nflog-group", "1")
		}
	}
	nft.WriteString("\t}\n}\n")
	ns.Nft(t, nft.String())
	r := openReader(t, ns, 1, nflog.Config{})

	for i, tc := range cases {
		testutil.SendUDP(t, ns, "127.0.0.1:"+strconv.Itoa(1000+i), []byte("prefix"), 1)
		p := next(t, r)
		require.Equal(t, uint16(1000+i), layers(t, &p).DstPort, "%s: %s", tc.name, describe(&p))
		require.True(t, p.Has(nflog.AttrPrefix), "%s: prefix attribute present", tc.name)
		require.Equal(t, []byte(tc.want), []byte(p.Prefix), "%s: prefix bytes", tc.name)
		require.Equal(t, utf8.ValidString(tc.want), utf8.ValidString(p.Prefix), tc.name)
	}
	requireNoPacket(t, r)
}

// TestKernelCopyRange: the rule's --nflog-size and the reader's copy range
// and mode cut the payload; Layers still reports the packet's real length
// from the IP header.
func TestKernelCopyRange(t *testing.T) {
	const datagram = 1000 // UDP payload: the IP packet is 1028 bytes
	cases := []struct {
		name        string
		cfg         nflog.Config
		size        string // --nflog-size, "" for none
		wantPayload int    // -1: no payload attribute
		big         bool   // send the largest IPv4 UDP datagram instead
	}{
		{name: "rule size 40", size: "40", wantPayload: 40},
		{name: "rule size 0", size: "0", wantPayload: -1},
		{name: "config range 60", cfg: nflog.Config{CopyRange: 60}, wantPayload: 60},
		{name: "rule size below config range", cfg: nflog.Config{CopyRange: 60}, size: "40", wantPayload: 40},
		{name: "config range below rule size", cfg: nflog.Config{CopyRange: 60}, size: "100", wantPayload: 60},
		{name: "config copy meta", cfg: nflog.Config{CopyMode: nflog.CopyMeta}, wantPayload: -1},
		{name: "config copy meta with rule size", cfg: nflog.Config{CopyMode: nflog.CopyMeta}, size: "40", wantPayload: -1},
		{name: "whole packet", wantPayload: 1028},
		// 65535 bytes on the wire, cut at the kernel's copy maximum.
		{name: "largest datagram", wantPayload: 65531, big: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNS(t)
			args := []string{"-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "1"}
			if tc.size != "" {
				args = append(args, "--nflog-size", tc.size)
			}
			ns.Iptables(t, args...)
			r := openReader(t, ns, 1, tc.cfg)

			wantLen := 20 + 8 + datagram
			if tc.big {
				wantLen = 65535
			}
			testutil.SendUDP(t, ns, "127.0.0.1:9", make([]byte, wantLen-28), 1)
			p := next(t, r)
			require.Equal(t, nflog.HookOutput, p.Hook)
			require.True(t, p.Has(nflog.AttrPacketHdr))
			if tc.wantPayload < 0 {
				require.False(t, p.Has(nflog.AttrPayload), "no payload attribute")
				require.Empty(t, p.Payload)
				_, ok := p.Layers()
				require.False(t, ok, "Layers without a payload")
				return
			}
			require.True(t, p.Has(nflog.AttrPayload))
			require.Len(t, p.Payload, tc.wantPayload)
			l := layers(t, &p)
			require.Equal(t, wantLen, l.Length, "real length from the IP header")
			require.Equal(t, netip.MustParseAddr("127.0.0.1"), l.Src)
			require.Equal(t, uint8(17), l.Protocol)
			require.True(t, l.HasPorts, "40 bytes reach the UDP ports")
			require.Equal(t, uint16(9), l.DstPort)
		})
	}
}
