package nflog_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// The README's library example: a Reader over a capture made with tcpdump
// -i nflog:5 -w lo-mixed.pcap, read as a live reader is (see ExampleOpen),
// without privileges. readme_test.go checks that the README shows this code.
func Example() {
	r, err := nflog.OpenFile("testdata/lo-mixed.pcap", &nflog.FileConfig{DisableInterfaceNames: true})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for p, err := range r.All(context.Background()) {
		if err != nil { // a decode error: the reader goes on
			log.Print(err)
			continue
		}
		l, _ := p.Layers() // addresses, ports, real length; no allocation
		fmt.Printf("%-9q %-6s %-4s %v -> %v, %d bytes\n",
			p.Prefix, nflog.HookName(p.Family, p.Hook), nflog.IPProtocolName(l.Protocol), l.Src, l.Dst, l.Length)
	}
	st := r.Stats()
	fmt.Printf("%d received, %d lost, %d undecodable\n", st.Received, st.Lost, st.DecodeErrors)
	// Output:
	// "out"     output udp  127.0.0.1 -> 127.0.0.1, 80 bytes
	// "in udp"  input  udp  127.0.0.1 -> 127.0.0.1, 80 bytes
	// "out"     output icmp 127.0.0.1 -> 127.0.0.1, 108 bytes
	// "in icmp" input  icmp 127.0.0.1 -> 127.0.0.1, 108 bytes
	// "out6"    output udp  ::1 -> ::1, 50 bytes
	// "out"     output tcp  127.0.0.1 -> 127.0.0.1, 60 bytes
	// "out"     output tcp  127.0.0.1 -> 127.0.0.1, 40 bytes
	// 7 received, 0 lost, 0 undecodable
}

// Reading a capture made with tcpdump -i nflog:5 -w lo-mixed.pcap: the same
// API as a live reader, without privileges.
func Example_captureFile() {
	r, err := nflog.OpenFile("testdata/lo-mixed.pcap", &nflog.FileConfig{DisableInterfaceNames: true})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for p, err := range r.All(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		l, _ := p.Layers()
		fmt.Printf("%-8q %-6s %-11s %-6s %3d bytes, %d captured\n",
			p.Prefix, nflog.EtherTypeName(p.HwProtocol), p.Hook, nflog.IPProtocolName(l.Protocol), l.Length, len(p.Payload))
	}
	// Output:
	// "out"    ipv4   output      udp     80 bytes, 80 captured
	// "in udp" ipv4   input       udp     80 bytes, 48 captured
	// "out"    ipv4   output      icmp   108 bytes, 108 captured
	// "in icmp" ipv4   input       icmp   108 bytes, 108 captured
	// "out6"   ipv6   output      udp     50 bytes, 50 captured
	// "out"    ipv4   output      tcp     60 bytes, 60 captured
	// "out"    ipv4   output      tcp     40 bytes, 40 captured
}

// The zero-copy loop: the packet is valid only inside the callback.
func ExampleReader_Loop() {
	r, err := nflog.OpenFile("testdata/lo-mixed.pcap", &nflog.FileConfig{DisableInterfaceNames: true})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	var uids []uint32
	err = r.Loop(context.Background(), 3, func(p *nflog.Packet) error {
		if p.Has(nflog.AttrUID) {
			uids = append(uids, p.UID)
		}
		return nil
	})
	fmt.Println(uids, err)
	// Output: [1234] <nil>
}

// Opening a live reader needs CAP_NET_ADMIN; this example only compiles.
// The README shows it too (readme_test.go).
func ExampleOpen() {
	r, err := nflog.Open(5, &nflog.Config{
		QueueThreshold: 64,                     // packets per kernel batch
		FlushTimeout:   100 * time.Millisecond, // or sooner
		ReadBufferSize: 8 << 20,                // SO_RCVBUFFORCE
		Flags:          nflog.FlagSequence,     // count kernel-side losses exactly
		OnOverrun:      nflog.OverrunCount,     // ENOBUFS: count and go on
	})
	if err != nil {
		log.Fatal(err) // says what to do: missing CAP_NET_ADMIN, group held by pid N, ...
	}
	defer r.Close() // Shutdown instead also reads what the kernel still holds
	p, err := r.Next(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Prefix, p.InDevName, p.Timestamp)
}
