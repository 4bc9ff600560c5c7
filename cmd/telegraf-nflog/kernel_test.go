//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nftest "github.com/nflogr/telegraf-nflog/testutil"
)

// These tests run the binary against the real kernel, in a network
// namespace of its own, and need root.

const testGroup = 9

// liveBinary starts the binary reading testGroup in a fresh namespace with
// an NFLOG rule for UDP to port 9, and waits until it reads.
type liveBinary struct {
	ns     *nftest.NetNS
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout <-chan string
	stderr <-chan string
	log    []string
}

func startLive(t *testing.T, args ...string) *liveBinary {
	t.Helper()
	if testing.Short() {
		t.Skip("kernel test skipped in short mode")
	}
	nftest.RequireTools(t, "iptables")
	ns := nftest.NewNetNS(t)
	ns.Iptables(t, "-A", "INPUT", "-p", "udp", "--dport", "9", "-j", "NFLOG",
		"--nflog-group", fmt.Sprint(testGroup), "--nflog-prefix", "DROP:lo")

	path := filepath.Join(t.TempDir(), "plugin.conf")
	conf := fmt.Sprintf(`[[inputs.nflog]]
  groups = [%d]
  netns = "%s"
  flush_timeout = "0s"
  queue_threshold = 1
  prefix_pattern = '^(?P<action>[A-Z]+):(?P<zone>\w+)'
  extra_fields = ["dport"]
`, testGroup, ns.Path())
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))

	rb := startCommand(t, append([]string{binary(t), "-config", path}, args...)...)
	b := &liveBinary{ns: ns, cmd: rb.cmd, stdin: rb.stdin, stdout: rb.stdout, stderr: rb.stderr}
	b.log = waitFor(t, b.stderr, 10*time.Second, func(l string) bool {
		return strings.HasPrefix(l, "I! [inputs.nflog] Reading NFLOG groups")
	})
	return b
}

// rest returns the remaining stderr lines once the process has exited.
func (b *liveBinary) rest() []string {
	lines := b.log
	for l := range b.stderr {
		lines = append(lines, l)
	}
	return lines
}

func TestIntegrationBinaryLineProtocol(t *testing.T) {
	b := startLive(t)
	const count = 10
	nftest.SendUDP(t, b.ns, "127.0.0.1:9", []byte("hello"), count)

	var lines []string
	waitFor(t, b.stdout, 10*time.Second, func(l string) bool {
		if strings.HasPrefix(l, "nflog,") {
			lines = append(lines, l)
		}
		return len(lines) == count
	})
	t.Logf("example output:\n%s", strings.Join(lines[:2], "\n"))
	metrics := parseLines(t, strings.Join(lines, "\n"))
	for _, m := range metrics {
		require.Equal(t, "nflog", m.Name())
		require.Equal(t, map[string]string{"prefix": "DROP:lo", "action": "drop", "zone": "lo", "indev": "lo", "proto": "ipv4"}, m.Tags())
		require.Equal(t, map[string]any{
			"len": int64(20 + 8 + 5), "mark": int64(0), "dport": int64(9),
			"timestamp_us": m.Time().Truncate(time.Microsecond).UnixMicro(),
		}, m.Fields())
	}

	// A line on stdin asks for the statistics.
	_, err := fmt.Fprintln(b.stdin)
	require.NoError(t, err)
	stats := waitFor(t, b.stdout, 10*time.Second, func(l string) bool { return strings.HasPrefix(l, "nflog_stats,") })
	st := parseLines(t, stats[len(stats)-1])[0]
	require.Equal(t, map[string]string{"group": fmt.Sprint(testGroup)}, st.Tags())
	v, _ := st.GetField("packets_received_total")
	require.Equal(t, int64(count), v)

	// The end of stdin stops it cleanly, and it says why.
	require.NoError(t, b.stdin.Close())
	require.Equal(t, 0, exitWithin(t, b.cmd, 5*time.Second))
	rest := b.rest()
	requireLevelLines(t, strings.Join(rest, "\n")+"\n")
	require.Contains(t, rest, "I! [inputs.nflog] Standard input closed, stopping")
}

func TestIntegrationBinarySIGTERM(t *testing.T) {
	for _, format := range []string{"influx", "json"} {
		t.Run(format, func(t *testing.T) {
			b := startLive(t, "-format", format, "-poll-interval", "100ms")
			// Polling emits the statistics without any packet.
			waitFor(t, b.stdout, 10*time.Second, func(l string) bool { return strings.Contains(l, "nflog_stats") })
			require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
			require.Equal(t, 0, exitWithin(t, b.cmd, 5*time.Second))
			require.Contains(t, b.rest(), "I! [inputs.nflog] Received SIGTERM, stopping")
		})
	}
}

func TestIntegrationBinaryJSON(t *testing.T) {
	b := startLive(t, "-format", "json")
	nftest.SendUDP(t, b.ns, "127.0.0.1:9", []byte("hello"), 3)
	var n int
	lines := waitFor(t, b.stdout, 10*time.Second, func(l string) bool {
		if strings.Contains(l, `"name":"nflog"`) {
			n++
		}
		return n == 3
	})
	require.Contains(t, lines[len(lines)-1], `"tags":{"action":"drop","indev":"lo","prefix":"DROP:lo","proto":"ipv4","zone":"lo"}`)
	require.NoError(t, b.stdin.Close())
	require.Equal(t, 0, exitWithin(t, b.cmd, 5*time.Second))
}

func TestIntegrationBinaryReplayOfLiveCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel test skipped in short mode")
	}
	nftest.RequireTools(t, "iptables", "tcpdump")
	ns := nftest.NewNetNS(t)
	ns.Iptables(t, "-A", "INPUT", "-p", "udp", "--dport", "9", "-j", "NFLOG",
		"--nflog-group", fmt.Sprint(testGroup), "--nflog-prefix", "cap")
	const count = 5
	file := filepath.Join(t.TempDir(), "cap.pcap")
	dump, dumpErr := nftest.StartTcpdump(t, ns, testGroup, "-w", file, "-c", fmt.Sprint(count), "-U")
	nftest.SendUDP(t, ns, "127.0.0.1:9", []byte("x"), count)
	require.Equal(t, 0, exitWithin(t, dump, 10*time.Second), dumpErr.String())

	r := runBinary(t, nil, "-config", topSample, "-pcap", file)
	require.Equal(t, 0, r.code, r.stderr)
	metrics := parseLines(t, r.stdout)
	require.Len(t, metrics, count+1)
	for _, m := range metrics[:count] {
		require.Equal(t, map[string]string{"prefix": "cap", "indev": "lo", "proto": "ipv4"}, m.Tags())
		v, _ := m.GetField("len")
		require.Equal(t, int64(29), v)
	}
}
