//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nftest "github.com/nflogr/telegraf-nflog/testutil"
)

// Faults through the binary, against the real kernel: a group held by
// another process, and a stdout pipe that nobody reads.

// writeConf writes a plugin.conf reading testGroup in ns, with extra
// options.
func writeConf(t *testing.T, ns *nftest.NetNS, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plugin.conf")
	conf := fmt.Sprintf("[[inputs.nflog]]\n  groups = [%d]\n  netns = %q\n%s", testGroup, ns.Path(), extra)
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	return path
}

// TestIntegrationBinaryGroupBusy: with the group held by tcpdump the
// binary exits 1 at once, its last line an "E! " error that says the group
// is bound and names tcpdump, so that inputs.execd logs it as an error and
// restarts the binary after restart_delay.
func TestIntegrationBinaryGroupBusy(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel test skipped in short mode")
	}
	nftest.RequireTools(t, "tcpdump")
	ns := nftest.NewNetNS(t)
	holder, _ := nftest.StartTcpdump(t, ns, testGroup, "-w", os.DevNull)
	conf := writeConf(t, ns, "")
	for _, format := range []string{"influx", "json"} {
		t.Run(format, func(t *testing.T) {
			start := time.Now()
			r := runBinary(t, strings.NewReader(""), "-config", conf, "-format", format)
			require.Less(t, time.Since(start), 5*time.Second)
			require.Equal(t, 1, r.code)
			require.Empty(t, r.stdout)
			requireLevelLines(t, r.stderr)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			t.Log(last)
			require.True(t, strings.HasPrefix(last, "E! [inputs.nflog] Exiting: "), last)
			for _, want := range []string{
				fmt.Sprintf("group %d", testGroup), "already bound",
				fmt.Sprintf("process %d, \"tcpdump\"", holder.Process.Pid),
			} {
				require.Contains(t, last, want)
			}
		})
	}
}

// TestIntegrationBinaryStalledStdout floods the binary while nobody reads
// its standard output (Telegraf stuck, or its pipe full). The binary
// blocks on the pipe, the kernel drops what the socket buffer cannot
// hold, and memory stays bounded: the pipe (64 KiB), the writer's buffer
// (64 KiB), one metric in the shim's channel or 1024 in the JSON writer's,
// and the library's 512 KiB receive buffer. The test requires the
// resident set to grow by less than 32 MiB while ~270 MiB of packets are
// logged (measured: +0.5 MiB for line protocol, +3.5 MiB for JSON). Once read again, the binary catches up,
// every packet it received is on stdout, and received + lost == sent.
func TestIntegrationBinaryStalledStdout(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel test skipped in short mode")
	}
	nftest.RequireTools(t, "iptables")
	const (
		maxRSSGrowth = 32 << 20
		payload      = 1400
	)
	for _, format := range []string{"influx", "json"} {
		t.Run(format, func(t *testing.T) {
			ns := nftest.NewNetNS(t)
			g := strconv.Itoa(testGroup)
			ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", g, "--nflog-prefix", "flood")
			ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "10", "-j", "NFLOG", "--nflog-group", g, "--nflog-prefix", "marker")
			conf := writeConf(t, ns, "  copy_range = 0\n  read_buffer_size = \"1MiB\"\n  max_read_buffer_size = 0\n"+
				"  flush_timeout = \"10ms\"\n  queue_threshold = 64\n")

			cmd := exec.Command(binary(t), "-config", conf, "-format", format, "-poll-interval-disabled")
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			stderr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			})
			errLines := lineReader(stderr)
			waitFor(t, errLines, 10*time.Second, func(l string) bool {
				return strings.HasPrefix(l, "I! [inputs.nflog] Reading NFLOG groups")
			})
			pid := strconv.Itoa(cmd.Process.Pid)
			rss0 := nftest.VmRSS(t, pid)

			// Nobody reads stdout during the flood.
			stopSampling := nftest.SamplePeakRSS(pid, 20*time.Millisecond)
			sent, err := nftest.Flood(t.Context(), ns, "127.0.0.1:9", payload, 200_000, 3*time.Second)
			// Part of the measurement window, not a synchronisation: the
			// peak keeps being sampled while the binary works through the
			// flood's tail (the bound holds at any instant, so a longer
			// window can only make the check stricter).
			time.Sleep(200 * time.Millisecond)
			peak := stopSampling()
			require.NoError(t, err)
			rss1 := nftest.VmRSS(t, pid)
			t.Logf("%s, stdout stalled: %d datagrams of %d bytes (%.0f MiB); RSS %.1f -> %.1f MiB (peak %.1f)",
				format, sent, payload, float64(sent*(payload+28))/(1<<20), mib(rss0), mib(rss1), mib(peak))
			require.Greater(t, sent*payload, 4*maxRSSGrowth, "the flood offered far more than the bound")
			require.Less(t, int64(peak)-int64(rss0), int64(maxRSSGrowth), "RSS grew")

			// Reading resumes.
			out := newOutputCounter(format, stdout)
			markers := nftest.SendMarkers(t, ns, "127.0.0.1:10", func() bool { return out.markers.Load() > 0 })
			require.EqualValues(t, 1, out.markers.Load(), "one marker after %d", markers)
			_, err = fmt.Fprintln(stdin)
			require.NoError(t, err)
			require.Eventually(t, func() bool { return out.stats() != nil }, 10*time.Second, 10*time.Millisecond)
			st := out.stats()
			t.Logf("%s, recovered: %d packets on stdout, stats %v", format, out.packets.Load(), st)
			require.Equal(t, int64(sent+markers), st["packets_received_total"]+st["packets_lost_total"], "sent == received + lost")
			require.Equal(t, out.packets.Load(), st["packets_received_total"], "every packet received was written")
			require.Positive(t, st["packets_lost_total"])
			require.Positive(t, st["overruns_total"])
			require.Less(t, int64(nftest.VmRSS(t, pid))-int64(rss0), int64(maxRSSGrowth))

			require.NoError(t, stdin.Close())
			require.Equal(t, 0, exitWithin(t, cmd, 5*time.Second))
			<-out.done
		})
	}
}

// outputCounter reads the binary's output, counting packet metrics and
// markers and keeping the last statistics.
type outputCounter struct {
	packets, markers atomic.Int64
	mu               sync.Mutex
	last             map[string]int64
	done             chan struct{}
}

func newOutputCounter(format string, r io.Reader) *outputCounter {
	o := &outputCounter{done: make(chan struct{})}
	go func() {
		defer close(o.done)
		s := bufio.NewScanner(r)
		for s.Scan() {
			o.line(format, s.Text())
		}
	}()
	return o
}

func (o *outputCounter) line(format, l string) {
	if format == "influx" {
		switch {
		case strings.HasPrefix(l, "nflog,"):
			o.packets.Add(1)
			if strings.Contains(l, "prefix=marker") {
				o.markers.Add(1)
			}
		case strings.HasPrefix(l, "nflog_stats"):
			fields := map[string]int64{}
			f := strings.Fields(l)
			for _, kv := range strings.Split(f[1], ",") {
				k, v, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseInt(strings.TrimSuffix(v, "i"), 10, 64)
				fields[k] = n
			}
			o.merge(fields)
		}
		return
	}
	var m struct {
		Name   string            `json:"name"`
		Tags   map[string]string `json:"tags"`
		Fields map[string]int64  `json:"fields"`
	}
	if json.Unmarshal([]byte(l), &m) != nil {
		return
	}
	switch m.Name {
	case "nflog":
		o.packets.Add(1)
		if m.Tags["prefix"] == "marker" {
			o.markers.Add(1)
		}
	case "nflog_stats":
		o.merge(m.Fields)
	}
}

// merge keeps the latest value of each field of nflog_stats, which comes
// as two lines (the counters, then the buffer size gauge).
func (o *outputCounter) merge(fields map[string]int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		o.last = make(map[string]int64)
	}
	for k, v := range fields {
		o.last[k] = v
	}
}

func (o *outputCounter) stats() map[string]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
