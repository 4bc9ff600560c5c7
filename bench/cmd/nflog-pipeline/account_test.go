package main

import (
	"testing"
)

func TestParseLine(t *testing.T) {
	l, ok := parseLine(`nflog_stats,group=7 packets_received_total=10i,packets_lost_total=3i,x="a b,c" 1700000000000000000` + "\n")
	if !ok || l.name != "nflog_stats" || l.tags["group"] != "7" || l.series != "nflog_stats,group=7" {
		t.Fatalf("parsed %+v", l)
	}
	if n, ok := l.intField("packets_lost_total"); !ok || n != 3 {
		t.Errorf("packets_lost_total = %d, %v", n, ok)
	}
	if l.fields["x"] != `"a b,c"` {
		t.Errorf("x = %q", l.fields["x"])
	}
	l, ok = parseLine(`internal_write,alias=points,output=file buffer_size=0i,metrics_dropped=5i`)
	if n, _ := l.intField("metrics_dropped"); !ok || n != 5 || l.tags["alias"] != "points" {
		t.Errorf("no time: %+v", l)
	}
	if _, ok := parseLine("garbage"); ok {
		t.Error("garbage parsed")
	}
}

func TestPointCounter(t *testing.T) {
	c := &pointCounter{measurement: "nflog"}
	c.feed([]byte("nflog,proto=ipv4 len=92i 1\nnflog_stats,group=7 packets_received_total=1i 1\nnfl"))
	c.feed([]byte("og,proto=ipv4 len=92i 2\n"))
	if c.delivered() != 2 || c.other != 1 {
		t.Errorf("per packet: delivered %d, other %d", c.delivered(), c.other)
	}
	// Running totals: the last value of each series counts.
	c = &pointCounter{counterName: "nflog_counters", counterField: "packets_total", running: true}
	c.feed([]byte("nflog_counters,proto=ipv4 packets_total=5i,bytes_total=10i 1\n" +
		"nflog_counters,proto=ipv6 packets_total=1i 1\n" +
		"nflog_counters,proto=ipv4 packets_total=9i,bytes_total=20i 2\n"))
	if c.delivered() != 10 {
		t.Errorf("running totals: delivered %d, want 10", c.delivered())
	}
	// Per period: every value counts.
	c = &pointCounter{counterName: "ulogd", counterField: "len_count"}
	c.feed([]byte("ulogd,outdev=lo len_count=4i,len_sum=368i 1\nulogd,outdev=lo len_count=6i,len_sum=552i 2\n"))
	if c.delivered() != 10 {
		t.Errorf("per period: delivered %d, want 10", c.delivered())
	}
}

func TestParseStatsAndAccount(t *testing.T) {
	b := []byte(`nflog_stats,group=7 packets_received_total=90i,packets_lost_total=4i,decode_errors_total=0i,packet_metrics_not_emitted_total=0i 1
nflog_stats,group=7 read_buffer_bytes=8388608i 1
internal_write,alias=stats,output=file metrics_dropped=100i,buffer_size=7i 1
internal_write,alias=points,output=file metrics_dropped=1i,metrics_written=80i,buffer_size=9i 1
nflog_stats,group=7 packets_received_total=96i,packets_lost_total=4i,decode_errors_total=0i,packet_metrics_not_emitted_total=0i 2
internal_write,alias=points,output=file metrics_dropped=1i,metrics_written=95i,buffer_size=0i 2
internal_aggregate,aggregator=basicstats metrics_dropped=2i 2
`)
	s := parseStats(b, "points")
	want := losses{KernelLost: 4, OutputDropped: 1, AggregatorDropped: 2}
	if !s.haveNflog || !s.haveWrite || s.losses != want || s.received != 96 || s.written != 95 || s.buffered != 0 {
		t.Fatalf("stats %+v", s)
	}
	a := account{Logged: 102, Delivered: 95, Losses: s.losses, Buffered: s.buffered, HaveStats: s.haveWrite}
	if a.unaccounted() != 0 || !a.balanced() || a.lossFree() {
		t.Errorf("account %+v: unaccounted %d, balanced %v, loss-free %v", a, a.unaccounted(), a.balanced(), a.lossFree())
	}
	a.Logged = 110
	if a.unaccounted() != 8 || a.balanced() {
		t.Errorf("8 unaccounted: %d, balanced %v", a.unaccounted(), a.balanced())
	}
	a = account{Logged: 10, Delivered: 10, HaveStats: true}
	if !a.lossFree() {
		t.Error("10 of 10 delivered is not loss-free")
	}
	a.Buffered = 1
	if a.balanced() {
		t.Error("balanced with a metric still buffered")
	}
}

func TestSeqCounter(t *testing.T) {
	var c seqCounter
	if _, ok := c.missing(); ok {
		t.Error("missing without lines")
	}
	for _, l := range []string{
		`{"timestamp": "x", "oob.seq.local": 0, "ip.totlen": 92}`,
		`{"oob.seq.local": 1}`,
		`{"oob.seq.local":4}`,
		`{"oob.seq.local": 4}`, // a duplicate is not a packet more
		`{"no": 1}`,
	} {
		c.add([]byte(l))
	}
	if n, ok := c.missing(); !ok || n != 2 || c.lines != 4 {
		t.Errorf("missing %d (%v), lines %d; want 2 (2 and 3), 4", n, ok, c.lines)
	}
}

func TestBisector(t *testing.T) {
	// The pipeline keeps up up to 70k/s; the sender's full rate is 160k/s.
	b := newBisector(160_000, 5)
	var rates []float64
	for {
		r, ok := b.next()
		if !ok {
			break
		}
		rates = append(rates, r)
		b.record(r, r <= 70_000)
	}
	want := []float64{80_000, 40_000, 60_000, 70_000, 75_000}
	if len(rates) != len(want) {
		t.Fatalf("tried %v, want %v", rates, want)
	}
	for i := range want {
		if rates[i] != want[i] {
			t.Fatalf("tried %v, want %v", rates, want)
		}
	}
	if lo, hi := b.result(); lo != 70_000 || hi != 75_000 {
		t.Errorf("result %v..%v, want 70000..75000", lo, hi)
	}
	// Nothing passes: the result is 0, below the lowest tried.
	b = newBisector(100, 2)
	for r, ok := b.next(); ok; r, ok = b.next() {
		b.record(r, false)
	}
	if lo, hi := b.result(); lo != 0 || hi != 25 {
		t.Errorf("none passed: %v..%v, want 0..25", lo, hi)
	}
}
