package nflog_test

import (
	"context"
	"fmt"
	"log"

	"github.com/nflogr/telegraf-nflog/nflog"
)

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
func ExampleOpen() {
	r, err := nflog.Open(5, &nflog.Config{
		QueueThreshold: 64,
		ReadBufferSize: 8 << 20,
		Flags:          nflog.FlagSequence,
		OnOverrun:      nflog.OverrunCount,
	})
	if err != nil {
		log.Fatal(err) // e.g. "needs CAP_NET_ADMIN: run as root, grant ..."
	}
	defer r.Close()
	p, err := r.Next(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Prefix, p.InDevName, p.Timestamp)
}
