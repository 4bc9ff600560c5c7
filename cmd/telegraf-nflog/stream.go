package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/serializers/json"
)

// runStream runs the plugin: it writes its metrics to stdout, calls Gather
// on every poll tick and every line on stdin, and stops cleanly on SIGTERM,
// SIGINT or the end of stdin, as Telegraf's shim does. The configuration is
// loaded with the shim (config.go); the run loop is the binary's own,
// because the shim writes every metric with a write system call of its own:
// at 200k packets a second that was a quarter of the binary's CPU (make
// flood, scenario a, same run: 3.49 µs/message on the shim, 2.67 here,
// where writes are buffered and flushed whenever the metric queue drains;
// lineprotocol.go says why line protocol is not Telegraf's serializer).
// Writing each metric from the goroutine that adds it, with no channel and
// a flush every 100 ms, was tried and measured no better (3.12/3.53 vs
// 3.10/3.33 µs/message, alternating runs), so the simpler queue stays.
// It also writes JSON, which the shim cannot, and knows when the plugin's
// reader has ended (a capture file, or an error it cannot recover from),
// which the shim learns only from a signal.
func runStream(input telegraf.Input, o *options, log *lineLogger, stdin io.Reader, stdout io.Writer) error {
	ser, err := newSerializer(o.format)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	metrics := make(chan telegraf.Metric, 1024)
	acc := agent.NewAccumulator(&maker{log: log}, metrics)
	acc.SetPrecision(time.Nanosecond)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		writeMetrics(metrics, ser, stdout, log)
	}()

	var done <-chan struct{}
	svc, isService := input.(telegraf.ServiceInput)
	if isService {
		if err := svc.Start(acc); err != nil {
			close(metrics)
			wg.Wait()
			return fmt.Errorf("failed to start input: %w", err)
		}
		if f, ok := input.(finisher); ok {
			done = f.Done()
		}
	}

	prompt := make(chan struct{}, 1)
	if o.pcap == "" {
		go func() {
			scanner := bufio.NewScanner(stdin)
			for scanner.Scan() {
				select {
				case prompt <- struct{}{}:
				default:
				}
			}
			stop() // the end of stdin stops the run, as in the shim
		}()
	}

	var tick <-chan time.Time
	if o.pollInterval > 0 {
		t := time.NewTicker(o.pollInterval)
		defer t.Stop()
		tick = t.C
	}

	gather := func() {
		if err := input.Gather(acc); err != nil {
			log.Errorf("Error in plugin: %v", err)
		}
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-done:
			if o.pcap != "" {
				gather() // counters and statistics of the whole file
			}
			break loop
		case <-tick:
			gather()
		case <-prompt:
			gather()
		}
	}
	if isService {
		svc.Stop()
	}
	close(metrics)
	wg.Wait()
	return nil
}

// encoder appends a metric's serialized form to a buffer.
type encoder interface {
	appendMetric(dst []byte, m telegraf.Metric) ([]byte, error)
}

func newSerializer(format string) (encoder, error) {
	if format == "json" {
		// Timestamps in nanoseconds, as in line protocol.
		s := &json.Serializer{TimestampUnits: config.Duration(time.Nanosecond)}
		if err := s.Init(); err != nil {
			return nil, fmt.Errorf("creating the json serializer: %w", err)
		}
		return serializerEncoder{s}, nil
	}
	lp, err := newLineProtocol()
	if err != nil {
		return nil, fmt.Errorf("creating the influx serializer: %w", err)
	}
	return lp, nil
}

// serializerEncoder is an encoder on a Telegraf serializer.
type serializerEncoder struct{ telegraf.Serializer }

func (e serializerEncoder) appendMetric(dst []byte, m telegraf.Metric) ([]byte, error) {
	b, err := e.Serialize(m)
	return append(dst, b...), err
}

// writeMetrics writes the metrics to out until the channel is closed,
// flushing whenever it is drained. After a write error (a closed pipe) it
// keeps draining the channel so that the plugin never blocks.
func writeMetrics(metrics <-chan telegraf.Metric, enc encoder, out io.Writer, log *lineLogger) {
	w := bufio.NewWriterSize(out, 64<<10)
	var failed bool
	var b []byte
	for m := range metrics {
		if failed {
			m.Drop()
			continue
		}
		var err error
		b, err = enc.appendMetric(b[:0], m)
		if err != nil {
			log.Errorf("Serializing a metric: %v", err)
			m.Reject()
			continue
		}
		_, err = w.Write(b)
		if err == nil && len(metrics) == 0 {
			err = w.Flush()
		}
		if err != nil {
			failed = true
			m.Drop()
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, os.ErrClosed) {
				log.Errorf("Writing metrics: %v", err)
			}
			continue
		}
		m.Accept()
	}
	_ = w.Flush()
}

// maker is the agent.MetricMaker of the accumulator: metrics pass
// unchanged, errors go to the binary's logger.
type maker struct{ log telegraf.Logger }

func (*maker) LogName() string                              { return "" }
func (*maker) MakeMetric(m telegraf.Metric) telegraf.Metric { return m }
func (m *maker) Log() telegraf.Logger                       { return m.log }
