//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/nflogr/telegraf-nflog/bench"
)

const modulePath = "github.com/nflogr/telegraf-nflog"

// moduleRoot finds the directory of this module's go.mod from the working
// directory upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if mod, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok && strings.TrimSpace(mod) == modulePath {
					f.Close()
					return dir, nil
				}
			}
			f.Close()
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the %s module: run from the repository (or pass -bin-dir with prebuilt nflog-consumer and nflog-flood)", modulePath)
		}
		dir = parent
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	// sudo's secure_path often lacks Go; use the toolchain that built us.
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// buildGo builds the module's packages into dir with "go build -o dir/".
func buildGo(dir string, pkgs ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := append([]string{"build", "-o", dir + "/"}, pkgs...)
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

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
		if err := aptInstall("libnetfilter-log-dev"); err != nil {
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

func aptInstall(pkgs ...string) error {
	install := func() error {
		cmd := exec.Command("apt-get", append([]string{"install", "-y", "-qq"}, pkgs...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get install %s: %w\n%s", strings.Join(pkgs, " "), err, out)
		}
		return nil
	}
	if install() == nil {
		return nil
	}
	if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w\n%s", err, out)
	}
	return install()
}
