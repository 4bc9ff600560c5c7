//go:build linux

package nflog_test

// Kernel tests of link-layer data: interface names that change while
// reading, bridges with br_netfilter, the netdev, bridge and arp families
// (L2 header, VLAN), conntrack, and a pcap round trip of live packets.
// Helpers are in kernel_linux_test.go.

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/nflog"
	"github.com/nflogr/telegraf-nflog/testutil"
)

// missingFeature reports a kernel feature the test needs: a failure in CI,
// a skip elsewhere, like testutil's prerequisites.
func missingFeature(t *testing.T, format string, args ...any) {
	t.Helper()
	if testutil.InCI() {
		t.Fatalf("kernel feature missing (CI=true, so this is a failure): "+format, args...)
	}
	t.Skipf("kernel feature missing: "+format, args...)
}

// setMAC sets a link's MAC address, for tests whose outcome must not
// depend on the random address a veth gets.
func setMAC(t *testing.T, ns *testutil.NetNS, ifname, mac string) net.HardwareAddr {
	t.Helper()
	ns.Run(t, "ip", "link", "set", ifname, "address", mac)
	hw := testutil.HardwareAddr(t, ns, ifname)
	require.Equal(t, mac, hw.String())
	return hw
}

// macHeader is an Ethernet header.
func macHeader(dst, src net.HardwareAddr, etherType uint16) []byte {
	return append(append(append([]byte{}, dst...), src...), byte(etherType>>8), byte(etherType))
}

// TestKernelInterfaceRename: the reader names a link created after it was
// opened, and follows a rename while reading, through rtnetlink
// notifications; the index stays the same.
func TestKernelInterfaceRename(t *testing.T) {
	a := newNS(t)
	b := testutil.NewNetNS(t)
	a.Iptables(t, "-A", "OUTPUT", "-d", "198.18.3.2", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "1")
	r := openReader(t, a, 1, nflog.Config{})

	// Created after Open; the pair is deleted through its end in b, whose
	// name does not change.
	b.AddVeth(t, a, "peerB", "vethA", "198.18.3.2/24", "198.18.3.1/24")
	index := uint32(testutil.LinkIndex(t, a, "vethA"))

	// The notification of the new link may trail the first packet a little.
	waitForName := func(want string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		var seen []string
		for time.Now().Before(deadline) {
			testutil.SendUDP(t, a, "198.18.3.2:9", []byte("rename"), 1)
			p := next(t, r)
			require.Equal(t, index, p.OutDev)
			require.Equal(t, nflog.HookOutput, p.Hook)
			if p.OutDevName == want {
				return
			}
			seen = append(seen, p.OutDevName)
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no packet named %q within 2 s; saw %q", want, seen)
	}
	waitForName("vethA")

	a.Run(t, "ip", "link", "set", "vethA", "down")
	a.Run(t, "ip", "link", "set", "vethA", "name", "vethB", "up")
	waitForName("vethB")

	// And back, so the name is not stuck on the first rename.
	a.Run(t, "ip", "link", "set", "vethB", "down")
	a.Run(t, "ip", "link", "set", "vethB", "name", "vethA", "up")
	waitForName("vethA")
}

// bridgeSetup builds a bridge namespace with br0 and two ports, p1 and p2,
// whose peers h1 (198.18.4.1) and h2 (198.18.4.2) live in two host
// namespaces.
type bridgeSetup struct {
	br, h1, h2 *testutil.NetNS
}

func newBridge(t *testing.T) bridgeSetup {
	t.Helper()
	s := bridgeSetup{br: newNS(t, "sysctl"), h1: testutil.NewNetNS(t), h2: testutil.NewNetNS(t)}
	s.h1.AddVeth(t, s.br, "h1", "p1", "198.18.4.1/24", "")
	s.h2.AddVeth(t, s.br, "h2", "p2", "198.18.4.2/24", "")
	s.br.Run(t, "ip", "link", "add", "br0", "type", "bridge")
	s.br.Run(t, "ip", "link", "set", "p1", "master", "br0")
	s.br.Run(t, "ip", "link", "set", "p2", "master", "br0")
	s.br.Run(t, "ip", "link", "set", "br0", "up")
	return s
}

// TestKernelBridgeNetfilter: with bridge-nf-call-iptables, an iptables
// FORWARD rule sees bridged IPv4 traffic; INDEV and OUTDEV are the bridge,
// PHYSINDEV and PHYSOUTDEV its ports.
func TestKernelBridgeNetfilter(t *testing.T) {
	s := newBridge(t)
	if _, err := s.br.RunErr("sysctl", "-n", "net.bridge.bridge-nf-call-iptables"); err != nil {
		missingFeature(t, "br_netfilter (net.bridge.bridge-nf-call-iptables): %v", err)
	}
	s.br.Run(t, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1")
	s.br.Iptables(t, "-A", "FORWARD", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "4", "--nflog-prefix", "bridged")
	r := openReader(t, s.br, 4, nflog.Config{})

	testutil.SendUDP(t, s.h1, "198.18.4.2:9", []byte("across the bridge"), 1)
	p := next(t, r)
	require.Equal(t, "bridged", p.Prefix, describe(&p))
	require.Equal(t, nflog.FamilyIPv4, p.Family)
	require.Equal(t, nflog.HookForward, p.Hook)
	require.Equal(t, "br0", p.InDevName)
	require.Equal(t, "br0", p.OutDevName)
	require.Equal(t, "p1", p.PhysInDevName)
	require.Equal(t, "p2", p.PhysOutDevName)
	require.Equal(t, uint32(testutil.LinkIndex(t, s.br, "br0")), p.InDev)
	require.Equal(t, uint32(testutil.LinkIndex(t, s.br, "p1")), p.PhysInDev)
	require.Equal(t, uint32(testutil.LinkIndex(t, s.br, "p2")), p.PhysOutDev)
	require.Equal(t, []byte(testutil.HardwareAddr(t, s.h1, "h1")), p.HwAddr)
	requireTimestamp(t, &p, true)
	l := layers(t, &p)
	require.Equal(t, netip.MustParseAddr("198.18.4.1"), l.Src)
	require.Equal(t, netip.MustParseAddr("198.18.4.2"), l.Dst)
	require.Equal(t, uint16(9), l.DstPort)
	require.Equal(t, 20+8+17, l.Length)
	requireNoPacket(t, r)
}

// TestKernelBridgeFamilyVLAN: an nft bridge-family rule logs frames with
// family 7, the L2 header, and the 802.1Q tag of a tagged frame sent into a
// port with a raw socket (this kernel has no 8021q module for VLAN links).
func TestKernelBridgeFamilyVLAN(t *testing.T) {
	s := newBridge(t)
	s.br.Nft(t, `table bridge t {
	chain pre {
		type filter hook prerouting priority 0;
		vlan id 42 log prefix "tagged" group 1
		ether type ip udp dport 9 log prefix "untagged" group 1
	}
}
`)
	r := openReader(t, s.br, 1, nflog.Config{})
	h1MAC, h2MAC := testutil.HardwareAddr(t, s.h1, "h1"), testutil.HardwareAddr(t, s.h2, "h2")
	src, dst := netip.MustParseAddr("198.18.4.1"), netip.MustParseAddr("198.18.4.2")
	br0 := uint32(testutil.LinkIndex(t, s.br, "br0"))
	p1 := uint32(testutil.LinkIndex(t, s.br, "p1"))

	testutil.SendRawFrame(t, s.h1, "h1", testutil.UDP4Frame(h2MAC, h1MAC, 42, src, dst, 40000, 9, []byte("tagged")), 1)
	testutil.SendRawFrame(t, s.h1, "h1", testutil.UDP4Frame(h2MAC, h1MAC, 0, src, dst, 40001, 9, []byte("untagged")), 1)

	for _, tagged := range []bool{true, false} {
		p := next(t, r)
		require.Equal(t, nflog.FamilyBridge, p.Family, describe(&p))
		require.Equal(t, nflog.HookPrerouting, p.Hook)
		require.Equal(t, uint16(0x0800), p.HwProtocol)
		// Bridge family: INDEV is the bridge, PHYSINDEV the port.
		require.Equal(t, br0, p.InDev)
		require.Equal(t, p1, p.PhysInDev)
		require.Equal(t, "br0", p.InDevName)
		require.Equal(t, "p1", p.PhysInDevName)
		require.True(t, p.Has(nflog.AttrL2Header))
		require.Equal(t, macHeader(h2MAC, h1MAC, 0x0800), p.L2Header, "the tag is not part of the MAC header")
		require.Equal(t, []byte(h1MAC), p.HwAddr)
		requireTimestamp(t, &p, true)
		l := layers(t, &p)
		require.Equal(t, src, l.Src)
		require.Equal(t, dst, l.Dst)
		require.Equal(t, uint16(9), l.DstPort)
		if tagged {
			require.Equal(t, "tagged", p.Prefix)
			require.True(t, p.Has(nflog.AttrVLAN))
			require.Equal(t, uint16(0x8100), p.VLAN.Proto, "VLAN proto is big-endian on the wire")
			require.Equal(t, uint16(42), p.VLAN.TCI)
			require.Equal(t, uint16(42), p.VLAN.ID())
			require.Zero(t, p.VLAN.Priority())
			require.Equal(t, uint16(40000), l.SrcPort)
		} else {
			require.Equal(t, "untagged", p.Prefix)
			require.False(t, p.Has(nflog.AttrVLAN))
			require.Zero(t, p.VLAN)
			require.Equal(t, uint16(40001), l.SrcPort)
		}
	}
	requireNoPacket(t, r)
}

// TestKernelNetdevFamily: nft netdev ingress and egress chains on a veth
// log family 5 with the device, the L2 header and the addresses; the egress
// payload starts at the Ethernet header.
func TestKernelNetdevFamily(t *testing.T) {
	testNetdevFamily(t, "02:00:00:00:05:02")
}

// TestKernelNetdevEgressMACLikeIPv4 is TestKernelNetdevFamily with a peer
// MAC whose first byte, 0x4e, reads as "IPv4, 14-word header": the egress
// payload starts with that MAC, and Layers must not take it for an IP
// header. A random veth MAC starts with 0x46, 0x4a or 0x4e about one time
// in twenty.
func TestKernelNetdevEgressMACLikeIPv4(t *testing.T) {
	testNetdevFamily(t, "4e:00:00:00:05:02")
}

func testNetdevFamily(t *testing.T, peerMAC string) {
	a := newNS(t)
	b := testutil.NewNetNS(t)
	b.AddVeth(t, a, "n1", "n0", "198.18.5.2/24", "198.18.5.1/24")
	n1MAC := setMAC(t, b, "n1", peerMAC)
	a.Nft(t, `table netdev t {
	chain in {
		type filter hook ingress device "n0" priority 0;
		udp dport 9 log prefix "ingress" group 1
	}
	chain out {
		type filter hook egress device "n0" priority 0;
		udp dport 9 log prefix "egress" group 1
	}
}
`)
	r := openReader(t, a, 1, nflog.Config{})
	n0MAC := testutil.HardwareAddr(t, a, "n0")
	n0 := uint32(testutil.LinkIndex(t, a, "n0"))
	aAddr, bAddr := netip.MustParseAddr("198.18.5.1"), netip.MustParseAddr("198.18.5.2")

	testutil.SendUDP(t, b, "198.18.5.1:9", []byte("in"), 1)
	p := next(t, r)
	require.Equal(t, "ingress", p.Prefix, describe(&p))
	require.Equal(t, nflog.FamilyNetdev, p.Family)
	require.Equal(t, nflog.Hook(0), p.Hook)
	require.Equal(t, "ingress", nflog.HookName(p.Family, p.Hook))
	require.Equal(t, uint16(0x0800), p.HwProtocol)
	require.Equal(t, n0, p.InDev)
	require.Equal(t, "n0", p.InDevName)
	require.False(t, p.Has(nflog.AttrOutDev))
	require.Equal(t, macHeader(n0MAC, n1MAC, 0x0800), p.L2Header)
	require.Equal(t, []byte(n1MAC), p.HwAddr)
	require.Equal(t, byte(0x45), p.Payload[0], "ingress payload starts at the IP header")
	l := layers(t, &p)
	require.Equal(t, bAddr, l.Src)
	require.Equal(t, aAddr, l.Dst)
	require.Equal(t, uint16(9), l.DstPort)
	require.Equal(t, 20+8+2, l.Length)
	require.Equal(t, 20, l.TransportOffset)
	requireTimestamp(t, &p, true)

	testutil.SendUDP(t, a, "198.18.5.2:9", []byte("out"), 1)
	p = next(t, r)
	require.Equal(t, "egress", p.Prefix, describe(&p))
	require.Equal(t, nflog.FamilyNetdev, p.Family)
	require.Equal(t, nflog.Hook(1), p.Hook)
	require.Equal(t, "egress", nflog.HookName(p.Family, p.Hook))
	require.Equal(t, n0, p.OutDev)
	require.Equal(t, "n0", p.OutDevName)
	require.Equal(t, macHeader(n1MAC, n0MAC, 0x0800), p.Payload[:14], "egress payload starts at the Ethernet header")
	l = layers(t, &p)
	require.Equal(t, aAddr, l.Src)
	require.Equal(t, bAddr, l.Dst)
	require.Equal(t, uint16(9), l.DstPort)
	require.Equal(t, 20+8+3, l.Length)
	require.Equal(t, 14+20, l.TransportOffset, "offset within Payload")
	// Netdev hooks are numbered 0 and 1, so the kernel's "hook <= FORWARD"
	// rule gives egress a timestamp too.
	requireTimestamp(t, &p, true)
	requireNoPacket(t, r)
}

// TestKernelARPFamily: an nft arp-family rule logs the ARP request a
// neighbour sends (payload from the ARP header) and the reply (payload from
// the Ethernet header); family 3, and Layers gives sender and target.
func TestKernelARPFamily(t *testing.T) {
	testARPFamily(t, "02:00:00:00:06:02")
}

// TestKernelARPSenderMACEndsInEtherType is TestKernelARPFamily with a
// sender MAC ending in 08:06: bytes 12-13 of the ARP request, which then
// read like the EtherType of an Ethernet header, must not make Layers skip
// 14 bytes.
func TestKernelARPSenderMACEndsInEtherType(t *testing.T) {
	testARPFamily(t, "02:00:00:00:08:06")
}

func testARPFamily(t *testing.T, peerMAC string) {
	a := newNS(t)
	b := testutil.NewNetNS(t)
	b.AddVeth(t, a, "b0", "a0", "198.18.6.2/24", "198.18.6.1/24")
	b0MAC := setMAC(t, b, "b0", peerMAC)
	a.Nft(t, `table arp t {
	chain in {
		type filter hook input priority 0;
		arp operation request log prefix "arp in" group 1
	}
	chain out {
		type filter hook output priority 0;
		arp operation reply log prefix "arp out" group 1
	}
}
`)
	r := openReader(t, a, 1, nflog.Config{})
	a0MAC := testutil.HardwareAddr(t, a, "a0")
	aAddr, bAddr := netip.MustParseAddr("198.18.6.1"), netip.MustParseAddr("198.18.6.2")
	// The first datagram from b makes it ask who has 198.18.6.1.
	testutil.SendUDP(t, b, "198.18.6.1:9", []byte("arp"), 1)

	p := next(t, r)
	require.Equal(t, "arp in", p.Prefix, describe(&p))
	require.Equal(t, nflog.FamilyARP, p.Family)
	require.Equal(t, uint16(0x0806), p.HwProtocol)
	require.Equal(t, nflog.Hook(0), p.Hook)
	require.Equal(t, "input", nflog.HookName(p.Family, p.Hook))
	requireTimestamp(t, &p, true)
	require.Equal(t, "a0", p.InDevName)
	require.Equal(t, []byte(b0MAC), p.HwAddr)
	require.Equal(t, []byte{0, 1, 8, 0, 6, 4, 0, 1}, p.Payload[:8], "input payload starts at the ARP header")
	l := layers(t, &p)
	require.Equal(t, uint16(0x0806), l.EtherType)
	require.Equal(t, bAddr, l.Src, "sender protocol address")
	require.Equal(t, aAddr, l.Dst, "target protocol address")

	p = next(t, r)
	require.Equal(t, "arp out", p.Prefix, describe(&p))
	require.Equal(t, nflog.FamilyARP, p.Family)
	require.Equal(t, nflog.Hook(1), p.Hook)
	require.Equal(t, "output", nflog.HookName(p.Family, p.Hook))
	requireTimestamp(t, &p, true) // NF_ARP_OUT is 1: "hook <= FORWARD" in the kernel
	require.Equal(t, "a0", p.OutDevName)
	require.Equal(t, macHeader(b0MAC, a0MAC, 0x0806), p.Payload[:14], "output payload starts at the Ethernet header")
	l = layers(t, &p)
	require.Equal(t, aAddr, l.Src)
	require.Equal(t, bAddr, l.Dst)
}

// TestKernelConntrack: with FlagConntrack a UDP flow's first packet carries
// its connection: the original tuple, the reply tuple and ct_info NEW. On a
// kernel without conntrack netlink glue, Open fails with ErrNotSupported.
func TestKernelConntrack(t *testing.T) {
	ns := newNS(t)
	// A conntrack match makes the namespace track connections.
	ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9", "-m", "conntrack", "--ctstate", "NEW,ESTABLISHED",
		"-j", "NFLOG", "--nflog-group", "1")
	r, err := nflog.Open(1, &nflog.Config{NetNS: ns.FD(), Flags: nflog.FlagConntrack})
	if err != nil {
		require.ErrorIs(t, err, nflog.ErrNotSupported, "the conntrack flag on this kernel")
		require.ErrorIs(t, err, syscall.EOPNOTSUPP)
		t.Logf("this kernel cannot send conntrack data to NFLOG: %v", err)
		return
	}
	t.Cleanup(func() { r.Close() })
	s := newLoopbackSender(t, ns, "127.0.0.1:9")
	s.send(t, udpID(1))
	p := next(t, r)
	require.True(t, p.Has(nflog.AttrConntrack))
	require.True(t, p.Has(nflog.AttrConntrackInfo))
	require.Equal(t, nflog.CTNew, p.ConntrackInfo)
	lo := netip.MustParseAddr("127.0.0.1")
	o := p.Conntrack.Original
	require.Equal(t, lo, o.Src)
	require.Equal(t, lo, o.Dst)
	require.Equal(t, uint8(17), o.Protocol)
	require.Equal(t, s.port(), o.SrcPort)
	require.Equal(t, uint16(9), o.DstPort)
	rp := p.Conntrack.Reply
	require.Equal(t, lo, rp.Src)
	require.Equal(t, uint16(9), rp.SrcPort)
	require.Equal(t, s.port(), rp.DstPort)
}

// TestKernelPcapRoundTrip writes live packets with PcapWriter and
// PcapngWriter, reads the files back with OpenFile, and has tcpdump parse
// them.
func TestKernelPcapRoundTrip(t *testing.T) {
	ns := newNS(t)
	ns.Iptables(t, "-t", "mangle", "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j", "MARK", "--set-mark", "42")
	ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "1", "--nflog-prefix", "out")
	ns.Iptables(t, "-A", "INPUT", "-i", "lo", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "1", "--nflog-prefix", "in é", "--nflog-size", "30")
	ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "icmp", "--icmp-type", "echo-request", "-j", "NFLOG", "--nflog-group", "1")
	ns.Ip6tables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "1", "--nflog-prefix", "out6")
	r := openReader(t, ns, 1, nflog.Config{Flags: nflog.FlagSequence})

	testutil.SendUDP(t, ns, "127.0.0.1:9", []byte("pcap udp4"), 1)
	testutil.Ping(t, ns, "127.0.0.1", 1, 16)
	testutil.SendUDP(t, ns, "[::1]:9", []byte("pcap udp6"), 1)
	var live []nflog.Packet
	for range 4 {
		live = append(live, next(t, r))
	}
	require.Equal(t, []string{"out", "in é", "", "out6"}, []string{live[0].Prefix, live[1].Prefix, live[2].Prefix, live[3].Prefix})

	dir := t.TempDir()
	for _, format := range []struct {
		name  string
		write func(io.Writer) (*nflog.PcapWriter, error)
	}{{"live.pcap", nflog.NewPcapWriter}, {"live.pcapng", nflog.NewPcapngWriter}} {
		path := filepath.Join(dir, format.name)
		var buf bytes.Buffer
		w, err := format.write(&buf)
		require.NoError(t, err)
		for i := range live {
			require.NoError(t, w.WritePacket(&live[i]))
		}
		require.NoError(t, w.Flush())
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))

		fr, err := nflog.OpenFile(path, &nflog.FileConfig{DisableInterfaceNames: true})
		require.NoError(t, err, format.name)
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		for i, want := range live {
			got, err := fr.Next(ctx)
			require.NoError(t, err, "%s record %d", format.name, i)
			requireSamePacket(t, &want, &got)
		}
		_, err = fr.Next(ctx)
		require.ErrorIs(t, err, io.EOF)
		cancel()
		require.NoError(t, fr.Close())

		testutil.RequireTools(t, "tcpdump")
		tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(tctx, "tcpdump", "-r", path, "-n").CombinedOutput()
		tcancel()
		require.NoError(t, err, "tcpdump -r %s: %s", format.name, out)
		text := string(out)
		require.Contains(t, text, "NFLOG", "tcpdump reads the link type")
		var records int
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, " IP") {
				records++
			}
		}
		require.Equal(t, 4, records, "tcpdump output:\n%s", text)
		require.Contains(t, text, "127.0.0.1.")
		require.Contains(t, text, "ICMP echo request")
		require.Contains(t, text, "::1.")
	}
}

// requireSamePacket compares a packet read back from a file with the live
// one, except interface names (resolved on the reading side).
func requireSamePacket(t *testing.T, want, got *nflog.Packet) {
	t.Helper()
	require.Equal(t, want.Raw, got.Raw)
	for a := nflog.AttrPacketHdr; a <= nflog.AttrL2Header; a++ {
		require.Equal(t, want.Has(a), got.Has(a), "Has(%v)", a)
	}
	require.Equal(t, want.Family, got.Family)
	require.Equal(t, want.Group, got.Group)
	require.Equal(t, want.HwProtocol, got.HwProtocol)
	require.Equal(t, want.Hook, got.Hook)
	require.Equal(t, want.Mark, got.Mark)
	require.True(t, want.Timestamp.Equal(got.Timestamp), "timestamp %v, read back %v", want.Timestamp, got.Timestamp)
	require.Equal(t, [4]uint32{want.InDev, want.OutDev, want.PhysInDev, want.PhysOutDev}, [4]uint32{got.InDev, got.OutDev, got.PhysInDev, got.PhysOutDev})
	require.Equal(t, want.HwAddr, got.HwAddr)
	require.Equal(t, want.HwType, got.HwType)
	require.Equal(t, want.HwHeader, got.HwHeader)
	require.Equal(t, want.Payload, got.Payload)
	require.Equal(t, want.Prefix, got.Prefix)
	require.Equal(t, [3]uint32{want.UID, want.GID, want.Seq}, [3]uint32{got.UID, got.GID, got.Seq})
	wl, wok := want.Layers()
	gl, gok := got.Layers()
	require.Equal(t, wok, gok)
	require.Equal(t, wl, gl)
}
