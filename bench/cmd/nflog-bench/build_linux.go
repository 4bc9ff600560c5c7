//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/nflogr/telegraf-nflog/bench"
	"github.com/nflogr/telegraf-nflog/bench/internal/rig"
)

const nflogHeader = "/usr/include/libnetfilter_log/libnetfilter_log.h"

// buildCReader compiles the embedded C baseline into dir, installing
// libnetfilter-log-dev with apt-get first when it is missing and we are root.
func buildCReader(dir string, logf func(string, ...any)) (string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		if cc, err = exec.LookPath("gcc"); err != nil {
			return "", errors.New("no C compiler (cc): apt-get install gcc libnetfilter-log-dev")
		}
	}
	if _, err := os.Stat(nflogHeader); err != nil {
		if os.Geteuid() != 0 {
			return "", fmt.Errorf("%s is missing: apt-get install libnetfilter-log-dev (as root), then run again", nflogHeader)
		}
		logf("installing libnetfilter-log-dev for the C baseline")
		if err := rig.AptInstall("libnetfilter-log-dev"); err != nil {
			return "", fmt.Errorf("the C baseline needs libnetfilter-log-dev: %w", err)
		}
	}
	src := filepath.Join(dir, "nflog_reader.c")
	if err := os.WriteFile(src, bench.CReaderSource, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nflog_reader")
	out, err := exec.Command(cc, "-O2", "-Wall", "-o", bin, src, "-lnetfilter_log").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("compiling the C baseline: %w\n%s", err, out)
	}
	return bin, nil
}
