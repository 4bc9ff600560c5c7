package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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

	// Each way of stopping says so at info level: the process is a child
	// of execd, and a silent exit 0 leaves its user guessing why it ended.
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case sig := <-sigs:
			name := "SIGTERM"
			if sig == syscall.SIGINT {
				name = "SIGINT"
			}
			stop(fmt.Errorf("received %s, stopping", name))
		case <-ctx.Done():
		}
	}()

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
			// The end of stdin stops the run, as in the shim: execd
			// closes it when it stops, and so does a parent that dies.
			if err := scanner.Err(); err != nil {
				stop(fmt.Errorf("reading standard input: %w; stopping", err))
				return
			}
			stop(errors.New("standard input closed, stopping"))
		}()
	}

	// The ticker runs until the first line on stdin: a line means that
	// execd prompts each collection (signal = "STDIN"), and statistics on
	// the ticker as well would be emitted twice per interval.
	var tick <-chan time.Time
	stopTicker := func() {}
	if o.pollInterval > 0 {
		newTicker := o.newTicker
		if newTicker == nil {
			newTicker = realTicker
		}
		tick, stopTicker = newTicker(o.pollInterval)
	}
	defer func() { stopTicker() }()

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
			if tick != nil {
				stopTicker()
				stopTicker, tick = func() {}, nil
				log.Infof("A line on standard input: emitting the statistics on each line (signal = \"STDIN\"), no longer every -poll-interval (%v)", o.pollInterval)
			}
			gather()
		}
	}
	if cause := context.Cause(ctx); cause != nil {
		// Capitalised as every message is; the cause reads as a clause.
		msg := cause.Error()
		log.Info(strings.ToUpper(msg[:1]) + msg[1:])
	}
	if isService {
		svc.Stop()
	}
	finish()
	return nil
}

// realTicker is the ticker of -poll-interval; tests replace it through
// options.newTicker.
func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
