//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nflogr/telegraf-nflog/bench/internal/rig"
)

// procCPU is the CPU one process of the pipeline used between the start of
// the flood and the end of the pipeline's work (its startup and shutdown
// left out), from /proc/PID/stat: user and sys time of all its threads.
type procCPU struct {
	Name     string  `json:"name"`
	Role     string  `json:"role"` // "reader", "telegraf" or "database"
	PID      int     `json:"pid"`
	UserS    float64 `json:"user_s"`
	SysS     float64 `json:"sys_s"`
	PerPktUS float64 `json:"us_per_pkt"`
	CPUs     string  `json:"cpus,omitempty"`
}

type trial struct {
	Pipeline string `json:"pipeline"`
	Mode     string `json:"mode"`
	Run      int    `json:"run"` // 0: a bisection step
	// TargetRate: the paced sender's rate, 0 for as fast as it can.
	TargetRate float64 `json:"target_rate,omitempty"`

	Sent     uint64  `json:"sent"` // by the flood, markers included
	Logged   uint64  `json:"logged"`
	FloodS   float64 `json:"flood_s"`
	RateKpps float64 `json:"rate_kpps"`

	Account     account `json:"account"`
	Lines       uint64  `json:"lines"` // lines in the points file
	Unaccounted int64   `json:"unaccounted"`
	// SeqGaps: pipeline 3, the sequence numbers missing from ulogd's JSON
	// file (what the kernel dropped before ulogd read it); JSONLines its
	// lines.
	SeqGaps   *uint64 `json:"seq_gaps,omitempty"`
	JSONLines uint64  `json:"json_lines,omitempty"`
	// KernelDrops: sk_drops of the reader's socket (/proc/net/netlink),
	// batches of up to the threshold, not packets.
	KernelDrops uint64 `json:"kernel_drops"`
	Balanced    bool   `json:"balanced"`
	// LagS: from the end of the flood to the moment every packet of the
	// flood (the markers left out) was written or counted, as the harness
	// saw it polling every 250 ms; -1 if that did not happen.
	LagS float64 `json:"lag_s"`
	Pass bool    `json:"pass"` // loss-free and within -max-lag

	Procs       []procCPU `json:"procs"`
	CPUPerPktUS float64   `json:"cpu_us_per_pkt"`
	// CPUPerDeliveredUS: the sum over the packets written (or counted),
	// which differs from CPUPerPktUS when packets were lost.
	CPUPerDeliveredUS float64 `json:"cpu_us_per_delivered_pkt"`
	ReaderUS          float64 `json:"reader_us_per_pkt"`
	TelegrafUS        float64 `json:"telegraf_us_per_pkt"`
	DatabaseUS        float64 `json:"database_us_per_pkt,omitempty"`
	// With -influxdb: what its output wrote and dropped (Telegraf's
	// internal_write), and, in per-packet mode, the points InfluxDB holds.
	DBWritten *uint64 `json:"db_written,omitempty"`
	DBDropped uint64  `json:"db_dropped,omitempty"`
	DBStored  *uint64 `json:"db_stored,omitempty"`
	Ratio     float64 `json:"ratio_to_3,omitempty"`

	Notes  []string `json:"notes,omitempty"`
	Err    string   `json:"error,omitempty"`
	Stderr string   `json:"stderr,omitempty"`
}

func (t *trial) summary() string {
	if t.Err != "" {
		s := "error: " + t.Err
		if t.Stderr != "" {
			s += "\n" + t.Stderr
		}
		return s
	}
	a := t.Account
	s := fmt.Sprintf("sent %d at %.0fk/s, logged %d, delivered %d (%d lines), counted lost %d %+v, unaccounted %d",
		t.Sent, t.RateKpps, t.Logged, a.Delivered, t.Lines, a.Losses.total(), a.Losses, t.Unaccounted)
	if t.SeqGaps != nil {
		s += fmt.Sprintf(" (seq gaps in ulogd's JSON %d of %d lines)", *t.SeqGaps, t.JSONLines)
	}
	s += fmt.Sprintf(", kernel drops %d, lag %.1fs, pass %v; CPU", t.KernelDrops, t.LagS, t.Pass)
	for _, p := range t.Procs {
		s += fmt.Sprintf(" %s %.3f+%.3fs = %.3f µs/pkt;", p.Name, p.UserS, p.SysS, p.PerPktUS)
	}
	s += fmt.Sprintf(" sum %.3f µs/pkt", t.CPUPerPktUS)
	for _, n := range t.Notes {
		s += "; " + n
	}
	return s
}

// child is a process the harness started.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string // its stdout and stderr
	done rig.Exit
	err  error
}

func (c *child) exited() bool              { return c.done.Exited() }
func (c *child) wait(d time.Duration) bool { return c.done.Wait(d) }

// kill kills the process and its children (Telegraf's execd child).
func (c *child) kill() {
	if c.exited() {
		return
	}
	for _, pid := range rig.Children(c.cmd.Process.Pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	c.cmd.Process.Kill()
}

func (h *harness) start(name, dir string, args ...string) (*child, error) {
	c := &child{name: name, log: filepath.Join(dir, name+".log"), done: rig.NewExit()}
	f, err := os.Create(c.log)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(args[0], args[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	c.cmd.Env = append(os.Environ(), "TZ=UTC")
	if h.o.gomaxprocs > 0 {
		c.cmd.Env = append(c.cmd.Env, "GOMAXPROCS="+strconv.Itoa(h.o.gomaxprocs))
	}
	h.debugf("starting %s", strings.Join(args, " "))
	err = rig.WithAffinity(h.o.cpuPipeline, c.cmd.Start)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	remove := rig.Cleanup.Add(c.kill)
	go func() {
		c.err = c.cmd.Wait()
		remove()
		close(c.done)
	}()
	return c, nil
}

// measured is a process whose CPU is counted.
type measured struct {
	name, role string
	pid        int
}

// runTrial runs pipeline p in mode through one flood in a fresh namespace.
// rate 0: as fast as the sender can.
func (h *harness) runTrial(p, mode string, run int, rate float64, count int, dur time.Duration) (t *trial) {
	o := h.o
	t = &trial{Pipeline: p, Mode: mode, Run: run, TargetRate: rate, LagS: -1}
	var children []*child
	h.seq++
	f := newTrialFiles(filepath.Join(h.tmp, fmt.Sprintf("trial-%d-%s-%s", h.seq, p, mode)))
	fail := func(err error) *trial {
		t.Err = err.Error()
		logs := []string{f.ulogdLog}
		for _, c := range children {
			logs = append(logs, c.log)
		}
		for _, l := range logs {
			if b, _ := os.ReadFile(l); len(b) > 0 {
				t.Stderr += fmt.Sprintf("--- %s:\n%s\n", filepath.Base(l), tail(string(b), 1500))
			}
		}
		return t
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return fail(err)
	}
	if !o.keep {
		defer os.RemoveAll(f.dir)
	}
	ns := fmt.Sprintf("nflogp-%d-%d", os.Getpid(), h.seq)
	del, err := rig.NewNS(ns, rig.NFLOGRule(o.group, o.threshold, o.copyRange))
	if err != nil {
		return fail(err)
	}
	defer del()
	view, err := rig.NewNSView("/run/netns/" + ns)
	if err != nil {
		return fail(err)
	}
	defer view.Close()
	defer func() {
		for _, c := range children {
			c.kill()
			<-c.done
		}
	}()

	var influxd *child
	if h.influxd != "" {
		// First in children: stopped last, after Telegraf.
		if influxd, f.influxURL, err = h.startInfluxd(f.dir); err != nil {
			return fail(err)
		}
		children = append(children, influxd)
	}
	write := func(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
	tgBin := h.telegrafStock
	if p == pipeIntree {
		tgBin = h.telegraf
	}
	if err := write(f.telegrafConf, h.telegrafConf(p, mode, f, ns)); err != nil {
		return fail(err)
	}
	if p == pipeExecd {
		// The binary runs as Telegraf's child in the root namespace and
		// opens its socket in the trial's (netns), as the plugin does.
		if err := write(f.pluginConf, h.pluginConf(ns, mode)); err != nil {
			return fail(err)
		}
	}
	var ulogd *child
	if p == pipeUlogd {
		if err := write(f.ulogdConf, h.ulogdConf(f)); err != nil {
			return fail(err)
		}
		u, err := h.start("ulogd", f.dir, "ip", "netns", "exec", ns, h.ulogd, "-c", f.ulogdConf)
		if err != nil {
			return fail(err)
		}
		children = append(children, u)
		ulogd = u
		// ulogd opens the JSON file at start; tail reads it from the
		// beginning, so Telegraf may start once the group is bound.
		if _, err := h.waitBound(view, children); err != nil {
			return fail(err)
		}
	}
	tg, err := h.start("telegraf", f.dir, tgBin, "--config", f.telegrafConf)
	if err != nil {
		return fail(err)
	}
	children = append(children, tg)

	inst, err := h.waitBound(view, children)
	if err != nil {
		return fail(err)
	}
	// Telegraf is running once it wrote its first internal metrics.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(f.stats); err == nil && fi.Size() > 0 {
			break
		}
		if err := exitedErr(children); err != nil {
			return fail(err)
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("telegraf wrote no internal metrics to %s within 30s", f.stats))
		}
		time.Sleep(100 * time.Millisecond)
	}
	procs := []measured{}
	switch p {
	case pipeIntree:
		procs = append(procs, measured{"telegraf", "telegraf", tg.cmd.Process.Pid})
	case pipeExecd:
		pid := 0
		for _, c := range rig.Children(tg.cmd.Process.Pid) {
			if st, err := rig.ReadProcStat(c); err == nil && st.Comm == filepath.Base(h.execd)[:min(15, len(filepath.Base(h.execd)))] {
				pid = c
			}
		}
		if pid == 0 {
			return fail(fmt.Errorf("no %s child of telegraf", filepath.Base(h.execd)))
		}
		procs = append(procs, measured{"telegraf-nflog", "reader", pid}, measured{"telegraf", "telegraf", tg.cmd.Process.Pid})
	case pipeUlogd:
		procs = append(procs, measured{"ulogd", "reader", ulogd.cmd.Process.Pid}, measured{"telegraf", "telegraf", tg.cmd.Process.Pid})
	}
	if influxd != nil {
		procs = append(procs, measured{"influxd", "database", influxd.cmd.Process.Pid})
	}
	time.Sleep(time.Second)
	before, err := snapshot(procs)
	if err != nil {
		return fail(err)
	}

	args := []string{"-netns", "/run/netns/" + ns, "-count", strconv.Itoa(count), "-duration", dur.String(), "-size", strconv.Itoa(o.payload)}
	if rate > 0 {
		args = append(args, "-rate", strconv.FormatFloat(rate, 'f', 0, 64))
	}
	fl, err := rig.RunFlood(h.flood, o.cpuSender, args...)
	if err != nil {
		return fail(err)
	}
	floodEnd := time.Now()
	h.debugf("flood: %+v", fl)
	t.FloodS = fl.ElapsedS
	if fl.ElapsedS > 0 {
		t.RateKpps = float64(fl.Sent) / fl.ElapsedS / 1000
	}
	// Once the reader emptied its socket, a few more packets: a packet
	// lost at the end of the flood leaves a gap in the sequence numbers
	// only when a later one arrives.
	if err := h.waitKernel(view, inst.PortID); err != nil {
		t.Notes = append(t.Notes, err.Error())
	}
	loggedFlood, err := rig.Logged(ns)
	if err != nil {
		return fail(err)
	}
	mk, err := rig.RunFlood(h.flood, o.cpuSender, "-netns", "/run/netns/"+ns, "-count", "5", "-duration", "1s", "-rate", "1000", "-size", strconv.Itoa(o.payload))
	if err != nil {
		return fail(err)
	}
	t.Sent = fl.Sent + mk.Sent
	if t.Logged, err = rig.Logged(ns); err != nil {
		return fail(err)
	}

	// Until every logged packet is written or counted, or no progress.
	pc := newPointCounter(p, mode)
	var pointsOff int64
	lastKey, lastChange := "", time.Now()
	for {
		if n, err := readFrom(f.points, pointsOff, pc.feed); err == nil {
			pointsOff = n
		}
		b, _ := os.ReadFile(f.stats)
		st := parseStats(b, pointsAlias)
		t.Account = account{Logged: t.Logged, Delivered: pc.delivered(), Losses: st.losses, Buffered: st.buffered, HaveStats: st.haveWrite}
		// The lag: until the flood's packets (not the markers) are all
		// written or counted.
		if t.LagS < 0 && t.Account.Delivered+t.Account.Losses.total() >= loggedFlood {
			t.LagS = time.Since(floodEnd).Seconds()
		}
		if t.Account.balanced() {
			t.Balanced = true
			break
		}
		if key := fmt.Sprintf("%+v", t.Account); key != lastKey {
			lastKey, lastChange = key, time.Now()
		}
		if time.Since(lastChange) > o.quiet {
			break
		}
		if time.Since(floodEnd) > o.drainMax {
			t.Notes = append(t.Notes, fmt.Sprintf("not drained within -drain-max %v", o.drainMax))
			break
		}
		if err := exitedErr(children); err != nil {
			return fail(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Lines = pc.lines + pc.counted + pc.other
	t.Unaccounted = t.Account.unaccounted()
	if influxd != nil {
		// Until the output reports as many points as the points file
		// holds: its internal_write figures come once an interval.
		st := h.waitInflux(f.stats, t.Lines)
		t.DBWritten, t.DBDropped = &st.written, st.losses.OutputDropped
		if mode == modePackets {
			m := "nflog"
			if p == pipeUlogd {
				m = "ulogd"
			}
			if n, err := influxCount(f.influxURL, m, "len"); err != nil {
				t.Notes = append(t.Notes, "counting the points in InfluxDB: "+err.Error())
			} else {
				t.DBStored = &n
			}
		}
	}

	settle(procs)
	after, err := snapshot(procs)
	if err != nil {
		return fail(err)
	}
	if sock, ok, err := view.Socket(inst.PortID); err == nil && ok {
		t.KernelDrops = sock.Drops
	}
	for i, m := range procs {
		pc := procCPU{Name: m.name, Role: m.role, PID: m.pid, CPUs: rig.CPUsAllowed(m.pid),
			UserS: (after[i].User - before[i].User).Seconds(), SysS: (after[i].Sys - before[i].Sys).Seconds()}
		if t.Logged > 0 {
			pc.PerPktUS = (pc.UserS + pc.SysS) * 1e6 / float64(t.Logged)
		}
		t.Procs = append(t.Procs, pc)
		t.CPUPerPktUS += pc.PerPktUS
		switch m.role {
		case "reader":
			t.ReaderUS += pc.PerPktUS
		case "database":
			t.DatabaseUS += pc.PerPktUS
		default:
			t.TelegrafUS += pc.PerPktUS
		}
	}

	if d := t.Account.Delivered; d > 0 {
		t.CPUPerDeliveredUS = t.CPUPerPktUS * float64(t.Logged) / float64(d)
	}

	// Stop: Telegraf first (it stops its execd child), then ulogd, then
	// influxd.
	for i := len(children) - 1; i >= 0; i-- {
		c := children[i]
		c.cmd.Process.Signal(syscall.SIGTERM)
		if !c.wait(15 * time.Second) {
			t.Notes = append(t.Notes, c.name+" did not stop within 15s of SIGTERM: killed")
			c.kill()
			<-c.done
		}
	}
	if p == pipeUlogd {
		var sc seqCounter
		if err := eachLine(f.ulogdJSON, sc.add); err != nil {
			t.Notes = append(t.Notes, "reading ulogd's JSON: "+err.Error())
		} else if n, ok := sc.missing(); ok {
			t.SeqGaps, t.JSONLines = &n, sc.lines
		}
		if b, err := os.ReadFile(f.ulogdLog); err == nil && strings.Contains(string(b), "losing") {
			t.Notes = append(t.Notes, "ulogd logged: "+firstLineWith(string(b), "losing"))
		}
	}
	// An aggregation period longer than the agent's 1 s interval delays
	// the counts by the difference.
	allowed := o.maxLag
	if p == pipeUlogd && mode == modeCounters && o.aggPeriod > time.Second {
		allowed += o.aggPeriod - time.Second
	}
	t.Pass = t.Balanced && t.Account.lossFree() && t.LagS >= 0 && t.LagS <= allowed.Seconds()
	return t
}

func newPointCounter(p, mode string) *pointCounter {
	switch {
	case p == pipeUlogd && mode == modeCounters:
		return &pointCounter{counterName: "ulogd", counterField: "len_count"}
	case p == pipeUlogd:
		return &pointCounter{measurement: "ulogd"}
	case mode == modeCounters:
		return &pointCounter{counterName: "nflog_counters", counterField: "packets_total", running: true}
	}
	return &pointCounter{measurement: "nflog"}
}

// waitBound waits until the group is bound in packet copy mode.
func (h *harness) waitBound(view *rig.NSView, children []*child) (rig.NFLOGInstance, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		in, ok, err := view.Instance(h.o.group)
		if err != nil {
			return in, err
		}
		if ok && in.CopyMode == 2 {
			return in, nil
		}
		if err := exitedErr(children); err != nil {
			return in, err
		}
		if time.Now().After(deadline) {
			return in, fmt.Errorf("group %d not bound within 30s", h.o.group)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitKernel waits until the group's pending batch and the reader's socket
// are empty for 200 ms (at most 60 s).
func (h *harness) waitKernel(view *rig.NSView, portID int) error {
	deadline := time.Now().Add(60 * time.Second)
	quiet := 0
	for quiet < 4 {
		in, iok, err := view.Instance(h.o.group)
		if err != nil {
			return err
		}
		sock, sok, err := view.Socket(portID)
		if err != nil {
			return err
		}
		if !iok || !sok {
			return fmt.Errorf("the reader closed its socket")
		}
		if in.Qlen == 0 && sock.Rmem == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the reader did not empty its socket within 60s of the flood")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func exitedErr(children []*child) error {
	for _, c := range children {
		if c.exited() {
			return fmt.Errorf("%s exited: %v", c.name, c.err)
		}
	}
	return nil
}

func snapshot(procs []measured) ([]rig.ProcStat, error) {
	out := make([]rig.ProcStat, len(procs))
	for i, m := range procs {
		st, err := rig.ReadProcStat(m.pid)
		if err != nil {
			return nil, fmt.Errorf("%s (pid %d): %w", m.name, m.pid, err)
		}
		out[i] = st
	}
	return out, nil
}

// settle waits (at most 10 s) until the processes' CPU time stops growing
// (less than 3 ms in 250 ms: Telegraf's idle ticks).
func settle(procs []measured) {
	sum := func() int64 {
		var n int64
		for _, m := range procs {
			c, _ := rig.ProcessCPU(m.pid)
			n += c
		}
		return n
	}
	last := sum()
	for i := 0; i < 40; i++ {
		time.Sleep(250 * time.Millisecond)
		cur := sum()
		if cur-last < int64(3*time.Millisecond) {
			return
		}
		last = cur
	}
}

// readFrom reads path from off to its end into fn and returns the new offset.
func readFrom(path string, off int64, fn func([]byte)) (int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return off, err
	}
	defer fh.Close()
	if _, err := fh.Seek(off, io.SeekStart); err != nil {
		return off, err
	}
	buf := make([]byte, 1<<20)
	for {
		n, err := fh.Read(buf)
		if n > 0 {
			fn(buf[:n])
			off += int64(n)
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

// eachLine calls fn with each line of path.
func eachLine(path string, fn func([]byte)) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	return sc.Err()
}

func firstLineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
