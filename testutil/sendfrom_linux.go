//go:build linux

package testutil

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// SendUDPFrom is [SendUDP] from a chosen source address: it sends count
// datagrams carrying payload from src ("ip:port", port 0 for any) to dst
// inside ns. src must be an address of ns (on one of its interfaces, or in
// 127.0.0.0/8, all of which is local on lo), which is how a test makes
// traffic from several sources without spoofing. ECONNREFUSED and EPERM are
// ignored as in SendUDP.
func SendUDPFrom(tb testing.TB, ns *NetNS, src, dst string, payload []byte, count int) {
	tb.Helper()
	from := parseAddrPort(tb, "SendUDPFrom", src)
	to := parseAddrPort(tb, "SendUDPFrom", dst)
	requireDst(tb, ns, to.Addr())
	checkCount(tb, "SendUDPFrom", count)
	if from.Addr().Is4() != to.Addr().Is4() {
		tb.Fatalf("SendUDPFrom: source %s and destination %s are of different families", src, dst)
	}
	var conn net.PacketConn
	err := ns.Do(func() (err error) {
		conn, err = net.ListenPacket(network("udp", from.Addr()), netip.AddrPortFrom(from.Addr(), from.Port()).String())
		return err
	})
	if err != nil {
		tb.Fatalf("SendUDPFrom: binding %s in %s (is it an address of the namespace?): %v", src, ns.name, err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(trafficTimeout)); err != nil {
		tb.Fatal(err)
	}
	addr := net.UDPAddrFromAddrPort(to)
	for i := 0; i < count; i++ {
		if _, err := conn.WriteTo(payload, addr); err != nil && !ignorableSendErr(err) {
			tb.Fatalf("SendUDPFrom: datagram %d/%d from %s to %s: %v", i+1, count, src, dst, err)
		}
	}
}
