package main

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
)

// countingInput is an input whose Gather emits one metric numbered by
// the call and reports each call on gathered.
type countingInput struct {
	mu       sync.Mutex
	n        int
	gathered chan int
}

func (*countingInput) SampleConfig() string { return "" }

func (c *countingInput) Gather(acc telegraf.Accumulator) error {
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	acc.AddFields("nflog_stats", map[string]any{"gather": n}, nil, time.Unix(int64(n), 0))
	c.gathered <- n
	return nil
}

// syncBuffer is a bytes.Buffer safe for the writer and logger goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// streamRun is runStream over countingInput, with a ticker the test
// drives and stdin a pipe it writes.
type streamRun struct {
	input   *countingInput
	tick    chan time.Time
	stopped chan struct{} // closed when the ticker is stopped
	stdin   *io.PipeWriter
	stdout  syncBuffer
	stderr  syncBuffer
	done    chan error
}

func startStream(t *testing.T, level telegraf.LogLevel) *streamRun {
	t.Helper()
	r := &streamRun{
		input:   &countingInput{gathered: make(chan int, 16)},
		tick:    make(chan time.Time),
		stopped: make(chan struct{}),
		done:    make(chan error, 1),
	}
	var once sync.Once
	o := &options{format: "influx", pollInterval: 10 * time.Second,
		newTicker: func(time.Duration) (<-chan time.Time, func()) {
			return r.tick, func() { once.Do(func() { close(r.stopped) }) }
		}}
	stdinR, stdinW := io.Pipe()
	r.stdin = stdinW
	log := newLineLogger(&r.stderr, level, "inputs.nflog")
	go func() { r.done <- runStream(r.input, o, log, stdinR, &r.stdout) }()
	t.Cleanup(func() { _ = stdinW.Close() })
	return r
}

// gathered waits for the n-th Gather.
func (r *streamRun) gathered(t *testing.T, n int) {
	t.Helper()
	select {
	case got := <-r.input.gathered:
		require.Equal(t, n, got)
	case <-time.After(10 * time.Second):
		t.Fatalf("Gather %d did not come within 10s; stderr:\n%s", n, r.stderr.String())
	}
}

// end closes stdin and waits for runStream to return.
func (r *streamRun) end(t *testing.T) {
	t.Helper()
	require.NoError(t, r.stdin.Close())
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("runStream did not return within 10s of the end of stdin")
	}
}

// With execd's signal = "STDIN" the statistics follow the lines on stdin
// only: the first line stops the -poll-interval ticker (which emitted
// before it), so that an interval does not get them twice.
func TestStreamStdinPromptStopsTicker(t *testing.T) {
	r := startStream(t, telegraf.Info)
	r.tick <- time.Now()
	r.gathered(t, 1)

	_, err := io.WriteString(r.stdin, "\n")
	require.NoError(t, err)
	r.gathered(t, 2)
	select {
	case <-r.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the ticker was not stopped after a line on stdin")
	}
	_, err = io.WriteString(r.stdin, "\n")
	require.NoError(t, err)
	r.gathered(t, 3)
	r.end(t)

	require.Equal(t, 3, strings.Count(r.stdout.String(), "nflog_stats "), r.stdout.String())
	require.Contains(t, r.stderr.String(), `I! [inputs.nflog] A line on standard input: emitting the statistics on each line (signal = "STDIN"), no longer every -poll-interval (10s)`)
	require.Equal(t, 1, strings.Count(r.stderr.String(), "A line on standard input"), "said once")
}

// Without lines on stdin (signal = "none") the ticker keeps emitting.
func TestStreamTickerWithoutPrompt(t *testing.T) {
	r := startStream(t, telegraf.Info)
	for i := 1; i <= 3; i++ {
		r.tick <- time.Now()
		r.gathered(t, i)
	}
	select {
	case <-r.stopped:
		t.Fatal("the ticker was stopped without a line on stdin")
	default:
	}
	r.end(t)
	require.Equal(t, 3, strings.Count(r.stdout.String(), "nflog_stats "))
}

// The end of stdin stops the binary, and it says so at info level (also
// when the level is debug), instead of exiting without a word.
func TestStreamStdinClosedIsLogged(t *testing.T) {
	for _, level := range []telegraf.LogLevel{telegraf.Info, telegraf.Debug} {
		r := startStream(t, level)
		r.end(t)
		require.Equal(t, "I! [inputs.nflog] Standard input closed, stopping\n", r.stderr.String(), level)
	}
	r := startStream(t, telegraf.Warn)
	r.end(t)
	require.Empty(t, r.stderr.String(), "not at warn level")
}
