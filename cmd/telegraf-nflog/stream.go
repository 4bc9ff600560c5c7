package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
)

// runStream runs the plugin: it writes its metrics to stdout, calls Gather
// on every poll tick and every line on stdin, and stops cleanly on SIGTERM,
// SIGINT or the end of stdin, as Telegraf's shim does. The configuration is
// loaded with the shim (config.go); the run loop is the binary's own,
// because the shim writes every metric with a write system call of its own:
// at 200k packets a second that was a quarter of the binary's CPU (make
// bench, scenario a, same run: 3.49 µs/message on the shim, 2.67 with
// buffered writes). Each metric is written as it is made (metricWriter),
// which lets the plugin lend its metrics instead of copying them
// (BorrowsMetrics); lineprotocol.go says why line protocol is not
// Telegraf's serializer. It also writes JSON, which the shim cannot, and
// knows when the plugin's reader has ended (a capture file, or an error it
// cannot recover from), which the shim learns only from a signal.
func runStream(input telegraf.Input, o *options, log *lineLogger, stdin io.Reader, stdout io.Writer) error {
	ser, err := newSerializer(o.format)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	writer := newMetricWriter(ser, stdout, log)
	// No channel: the writer's MakeMetric always returns nil, so the
	// accumulator never sends on it (a non-nil return would block forever).
	agentAcc := agent.NewAccumulator(writer, nil)
	agentAcc.SetPrecision(time.Nanosecond)
	acc := lendingAccumulator{agentAcc}

	stopFlush := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		writer.flushEvery(stopFlush)
	}()
	finish := func() {
		close(stopFlush)
		wg.Wait()
		writer.flush()
	}

	var done <-chan struct{}
	svc, isService := input.(telegraf.ServiceInput)
	if isService {
		if err := svc.Start(acc); err != nil {
			finish()
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
		writer.flush() // the statistics asked for go out at once
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-done:
			if o.pcap != "" {
				// Counters, rankings and statistics of the file's end. The
				// error that ended reading, which Gather returns, was
				// logged when it happened and is the exit's reason: not
				// logged a third time.
				var readErr error
				if f, ok := input.(finisher); ok {
					readErr = f.Err()
				}
				if err := input.Gather(acc); err != nil && err != readErr {
					log.Errorf("Error in plugin: %v", err)
				}
				writer.flush()
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
	finish()
	return nil
}
