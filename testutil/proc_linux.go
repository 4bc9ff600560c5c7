//go:build linux

package testutil

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ReadVmRSS returns the resident set size of process pid ("self" for this
// process) in bytes, from the VmRSS line of /proc/PID/status. It does not
// fail a test, so that a sampling goroutine can call it.
func ReadVmRSS(pid string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

// VmRSS is ReadVmRSS that fails the test on error.
func VmRSS(tb testing.TB, pid string) uint64 {
	tb.Helper()
	v, err := ReadVmRSS(pid)
	if err != nil {
		tb.Fatalf("reading the resident set size of process %s: %v", pid, err)
	}
	return v
}

// parseVmRSS reads "VmRSS:    1234 kB" out of a /proc/PID/status.
func parseVmRSS(status []byte) (uint64, error) {
	s := bufio.NewScanner(bytes.NewReader(status))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) != 3 || f[0] != "VmRSS:" {
			continue
		}
		if f[2] != "kB" {
			return 0, fmt.Errorf("VmRSS in %q, not kB", f[2])
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", f[1], err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS line (a kernel thread, or a process that exited)")
}

// SamplePeakRSS samples the resident set size of process pid every interval
// on a goroutine of its own until the returned function is called, which
// stops it and returns the largest size seen (0 if none could be read).
func SamplePeakRSS(pid string, interval time.Duration) (stop func() uint64) {
	done := make(chan struct{})
	peak := make(chan uint64, 1)
	go func() {
		var max uint64
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if v, err := ReadVmRSS(pid); err == nil && v > max {
				max = v
			}
			select {
			case <-done:
				peak <- max
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-peak
	}
}
