//go:build linux

package rig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// NFLOGRule is the benchmarks' rule, after "iptables -A OUTPUT": UDP to
// port 9 logged to group with the threshold and --nflog-size copyRange.
func NFLOGRule(group, threshold, copyRange int) []string {
	return []string{"-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", strconv.Itoa(group),
		"--nflog-threshold", strconv.Itoa(threshold), "--nflog-size", strconv.Itoa(copyRange)}
}

// NewNS creates the network namespace name (ip netns add) with its
// loopback up and "iptables -A OUTPUT rule...", and registers its deletion
// with Cleanup; del deletes it.
func NewNS(name string, rule []string) (del func(), err error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", name, err, out)
	}
	remove := Cleanup.Add(func() { exec.Command("ip", "netns", "del", name).Run() })
	del = func() {
		exec.Command("ip", "netns", "del", name).Run()
		remove()
	}
	cmds := [][]string{
		{"ip", "-n", name, "link", "set", "lo", "up"},
		append([]string{"ip", "netns", "exec", name, "iptables", "-w", "-A", "OUTPUT"}, rule...),
	}
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			del()
			return nil, fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	return del, nil
}

var nflogRuleRE = regexp.MustCompile(`(?m)^\s*(\d+)\s+\d+\s+NFLOG\b`)

// Logged returns the packet counter of the NFLOG rule in namespace ns.
func Logged(ns string) (uint64, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "iptables", "-w", "-L", "OUTPUT", "-v", "-x", "-n").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("iptables -L: %w: %s", err, out)
	}
	m := nflogRuleRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no NFLOG rule in:\n%s", out)
	}
	return strconv.ParseUint(string(m[1]), 10, 64)
}

// FloodOut is the JSON nflog-flood prints.
type FloodOut struct {
	Sent     uint64  `json:"sent"`
	ElapsedS float64 `json:"elapsed_s"`
	RatePerS float64 `json:"rate_per_s"`
	Stopped  string  `json:"stopped"`
}

// RunFlood runs the nflog-flood binary with args, pinned to cpu (-1: not
// pinned), and returns what it printed.
func RunFlood(bin string, cpu int, args ...string) (FloodOut, error) {
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := WithAffinity(cpu, cmd.Start); err != nil {
		return FloodOut{}, err
	}
	remove := Cleanup.Add(func() { cmd.Process.Kill() })
	err := cmd.Wait()
	remove()
	if err != nil {
		return FloodOut{}, fmt.Errorf("nflog-flood: %w: %s", err, errOut.String())
	}
	var fl FloodOut
	if err := json.Unmarshal(out.Bytes(), &fl); err != nil {
		return FloodOut{}, fmt.Errorf("nflog-flood output %q: %w", out.String(), err)
	}
	return fl, nil
}
