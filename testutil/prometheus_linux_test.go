//go:build linux

package testutil

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// TestStartPrometheus starts a real Prometheus in a namespace, scraping a
// test endpoint that exports a sample with its own timestamp (as Telegraf
// does with export_timestamp = true), and checks that the sample is stored
// once, at that timestamp, however often it is scraped.
func TestStartPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prometheus server")
	}
	ns := NewNetNS(t)
	RequireTools(t, "prometheus")

	ts := time.Now().Add(-30 * time.Second).Truncate(time.Millisecond)
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE test_packets gauge\ntest_packets{src=\"192.0.2.1\"} 7 %d\n", ts.UnixMilli())
	})}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })

	p := StartPrometheus(t, ns, PrometheusConfig{Targets: []string{l.Addr().String()}})
	p.WaitTargetsUp(t, 30*time.Second)

	// Wait for at least three scrapes, then sum the samples: one, at ts.
	var first time.Time
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := p.API.Targets(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Active) != 1 {
			t.Fatalf("active targets %+v, want one", res.Active)
		}
		last := res.Active[0].LastScrape
		if first.IsZero() {
			first = last
		}
		if last.Sub(first) >= 2*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no three scrapes within 30 s: %+v", res.Active)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, _, err := p.API.Query(ctx, `sum_over_time(test_packets[5m])`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 1 || vec[0].Value != 7 || vec[0].Metric["src"] != "192.0.2.1" {
		t.Fatalf("sum_over_time = %v, want 7 (one sample of 7, stored once)", v)
	}
	v, _, err = p.API.Query(ctx, `timestamp(test_packets)`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if vec, ok := v.(model.Vector); !ok || len(vec) != 1 || int64(math.Round(float64(vec[0].Value)*1000)) != ts.UnixMilli() {
		t.Fatalf("timestamp(test_packets) = %v, want the exported %d ms", v, ts.UnixMilli())
	}
}
