//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nflogr/telegraf-nflog/bench/internal/rig"
)

// consumerOut is the JSON printed by nflog-consumer and the C reader.
type consumerOut struct {
	Snapshot     bool   `json:"snapshot"`
	Received     uint64 `json:"received"`
	Overruns     uint64 `json:"overruns"`
	Lost         uint64 `json:"lost"`
	DecodeErrors uint64 `json:"decode_errors"`
	Growths      uint64 `json:"growths"`
	PayloadBytes uint64 `json:"payload_bytes"`
	Rcvbuf       int    `json:"rcvbuf"`
	Mallocs      uint64 `json:"mallocs"`
}

// phase is one flood of a trial.
type phase struct {
	Sent        uint64  `json:"sent"`
	Logged      uint64  `json:"logged"` // the NFLOG rule's packet counter
	FloodS      float64 `json:"flood_s"`
	Received    *uint64 `json:"received,omitempty"`
	Lost        *uint64 `json:"lost,omitempty"`
	Overruns    *uint64 `json:"overruns,omitempty"`
	KernelDrops uint64  `json:"kernel_drops"` // sk_drops of the socket: batches dropped
}

type trial struct {
	Scenario string `json:"scenario"`
	Consumer string `json:"consumer"`
	Run      int    `json:"run"`

	Phases []phase `json:"phases"`

	Sent         uint64   `json:"sent"`
	Logged       uint64   `json:"logged"`
	RateKpps     float64  `json:"rate_kpps"`
	Received     *uint64  `json:"received,omitempty"`
	Lost         *uint64  `json:"lost,omitempty"`
	LostFrom     string   `json:"lost_from,omitempty"` // "seq", "count" or "kernel drops"
	Overruns     *uint64  `json:"overruns,omitempty"`
	Growths      *uint64  `json:"growths,omitempty"`
	KernelDrops  uint64   `json:"kernel_drops"`
	Mallocs      *uint64  `json:"mallocs,omitempty"` // heap allocations while reading (our consumers)
	AllocsPerMsg *float64 `json:"allocs_per_msg,omitempty"`
	RcvbufStart  int      `json:"rcvbuf_start,omitempty"`
	RcvbufEnd    int      `json:"rcvbuf_end,omitempty"`

	CPUUserS    float64 `json:"cpu_user_s"`
	CPUSysS     float64 `json:"cpu_sys_s"`
	CPUStartupS float64 `json:"cpu_startup_s"` // before the first flood, left out of the per-message cost
	Msgs        uint64  `json:"msgs"`          // messages the per-message cost divides by
	CPUPerMsgUS float64 `json:"cpu_us_per_msg"`
	RatioToC    float64 `json:"ratio_to_c,omitempty"`
	MaxRSSKiB   int64   `json:"max_rss_kib"`
	CPUs        string  `json:"cpus,omitempty"`

	Err    string `json:"error,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

func (t *trial) summary() string {
	s := fmt.Sprintf("sent %d at %.0fk/s", t.Sent, t.RateKpps)
	if t.Received != nil {
		s += fmt.Sprintf(", received %d", *t.Received)
	}
	if t.Lost != nil {
		s += fmt.Sprintf(", lost %d (%s)", *t.Lost, t.LostFrom)
	}
	s += fmt.Sprintf(", kernel drops %d, CPU %.3fs = %.3f µs/msg, max RSS %.1f MiB",
		t.KernelDrops, t.CPUUserS+t.CPUSysS-t.CPUStartupS, t.CPUPerMsgUS, float64(t.MaxRSSKiB)/1024)
	if len(t.Phases) > 1 {
		p := t.Phases[len(t.Phases)-1]
		s += fmt.Sprintf("; last flood: sent %d", p.Sent)
		if p.Lost != nil {
			s += fmt.Sprintf(", lost %d", *p.Lost)
		}
		s += fmt.Sprintf(", kernel drops %d", p.KernelDrops)
	}
	return s
}

// lineBuf collects a child's output and hands out its lines.
type lineBuf struct {
	mu    sync.Mutex
	all   bytes.Buffer
	part  []byte
	lines chan string
}

func newLineBuf() *lineBuf { return &lineBuf{lines: make(chan string, 64)} }

func (l *lineBuf) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(b)
	l.part = append(l.part, b...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		select {
		case l.lines <- string(l.part[:i]):
		default:
		}
		l.part = l.part[i+1:]
	}
	return len(b), nil
}

func (l *lineBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// proc is a running consumer.
type proc struct {
	cmd      *exec.Cmd
	out      *lineBuf // nil when stdout is /dev/null
	errOut   *lineBuf
	stdin    io.WriteCloser
	done     rig.Exit
	waitErr  error
	selfExit bool      // exits on its own after -idle
	stopSig  os.Signal // to stop it otherwise
}

func (p *proc) exited() bool              { return p.done.Exited() }
func (p *proc) wait(d time.Duration) bool { return p.done.Wait(d) }

func (h *harness) start(cmd *exec.Cmd, cpu int, selfExit bool, stopSig os.Signal, stdoutNull, stdinPipe bool) (*proc, error) {
	p := &proc{cmd: cmd, errOut: newLineBuf(), done: rig.NewExit(), selfExit: selfExit, stopSig: stopSig}
	cmd.Stderr = p.errOut
	var devnull *os.File
	if stdoutNull {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		devnull = f
		cmd.Stdout = f
	} else {
		p.out = newLineBuf()
		cmd.Stdout = p.out
	}
	if stdinPipe {
		w, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		p.stdin = w
	}
	h.debugf("starting %s", strings.Join(cmd.Args, " "))
	err := rig.WithAffinity(cpu, cmd.Start)
	if devnull != nil {
		devnull.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Args[0], err)
	}
	remove := rig.Cleanup.Add(func() { cmd.Process.Kill() })
	go func() {
		p.waitErr = cmd.Wait()
		remove()
		close(p.done)
	}()
	return p, nil
}

// newNS creates a fresh namespace with its loopback up and the NFLOG rule.
func (h *harness) newNS(sc scenario) (name string, del func(), err error) {
	h.seq++
	name = fmt.Sprintf("nflogb-%d-%d", os.Getpid(), h.seq)
	del, err = rig.NewNS(name, rig.NFLOGRule(h.o.group, sc.Threshold, h.o.copyRange))
	return name, del, err
}

// consumerCmd builds the command line of a consumer kind.
func (h *harness) consumerCmd(kind string, sc scenario, ns string, run int) (cmd *exec.Cmd, selfExit bool, stopSig os.Signal, stdoutNull, stdinPipe bool, err error) {
	o := h.o
	g := strconv.Itoa(o.group)
	q := strconv.Itoa(sc.Threshold)
	nsPath := "/run/netns/" + ns
	idle := o.idle
	if sc.Floods > 1 {
		idle = max(idle, 3*time.Second) // outlast the pause between the floods
	}
	switch kind {
	case kindC:
		cmd = exec.Command("ip", "netns", "exec", ns, h.creader, "-group", g, "-threshold", q,
			"-rcvbuf", strconv.Itoa(sc.Rcvbuf), "-nlbuf", strconv.Itoa(o.nlbuf),
			"-copy-range", strconv.Itoa(o.copyRange), "-timeout", strconv.Itoa(int((o.flush+9*time.Millisecond)/(10*time.Millisecond))),
			"-idle", strconv.Itoa(int(idle/time.Millisecond)), "-max-wait", "60000")
		return cmd, true, syscall.SIGTERM, false, false, nil
	case kindGoZeroCopy, kindGoCopy, kindGoZeroCopyBlocking, kindGoCopyBlocking, kindProbeRaw, "probe-rawfd", "probe-mmsg", "probe-rawfd-raw", "probe-rawfd-walk":
		mode, blocking := strings.CutSuffix(strings.TrimPrefix(kind, "go-"), "-blocking")
		if m, ok := probeModes[kind]; ok {
			mode = m
		}
		args := []string{"-group", g, "-netns", nsPath, "-mode", mode, "-threshold", q,
			"-rcvbuf", strconv.Itoa(sc.Rcvbuf), "-max-rcvbuf", strconv.Itoa(sc.MaxRcvbuf),
			"-nlbuf", strconv.Itoa(o.nlbuf), "-copy-range", strconv.Itoa(o.copyRange),
			"-flush", o.flush.String(), "-idle", idle.String(), "-max-wait", "60s"}
		if blocking {
			args = append(args, "-read-mode", "blocking")
		}
		if o.profileDir != "" {
			if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
				return nil, false, nil, false, false, err
			}
			args = append(args, "-cpuprofile", filepath.Join(o.profileDir, fmt.Sprintf("%s-%s-run%d.pprof", sc.Name, kind, run)))
		}
		return exec.Command(h.consumer, args...), true, syscall.SIGTERM, false, false, nil
	case kindTcpdump:
		// -B is in KiB; without CAP_NET_ADMIN-style forcing, libpcap's
		// SO_RCVBUF is capped by net.core.rmem_max.
		cmd = exec.Command("ip", "netns", "exec", ns, h.tcpdump, "-i", "nflog:"+g, "-w", "/dev/null", "-s", "0",
			"-B", strconv.Itoa(sc.Rcvbuf/1024), "-n")
		return cmd, false, syscall.SIGINT, true, false, nil
	case kindExecd, kindExecdNetpoll, kindExecdCounters, kindExecdTop:
		metrics, rankings, readMode := "packets", "", "blocking" // the binary's default
		switch kind {
		case kindExecdNetpoll:
			readMode = "netpoll"
		case kindExecdCounters:
			metrics = "counters"
		case kindExecdTop:
			metrics = "counters,top"
			rankings = `  [[inputs.nflog.top]]
    name = "src_net"
    key = ["src_net"]
    size = 20
    ipv4_mask = 24
  [[inputs.nflog.top]]
    name = "dport"
    key = ["dport"]
    size = 20
`
		}
		conf := fmt.Sprintf(`[[inputs.nflog]]
  groups = [%d]
  netns = %q
  copy_mode = "packet"
  copy_range = "%d"
  flush_timeout = %q
  queue_threshold = %d
  read_buffer_size = "%d"
  max_read_buffer_size = "%d"
  netlink_buffer_size = "%d"
  on_overrun = "count"
  sequence = "group"
  metrics = %q
  read_mode = %q
%s`, o.group, nsPath, o.copyRange, o.flush.String(), sc.Threshold, sc.Rcvbuf, sc.MaxRcvbuf, o.nlbuf, metrics, readMode, rankings)
		path := filepath.Join(h.tmp, fmt.Sprintf("execd-%s-%s-run%d.conf", sc.Name, kind, run))
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return nil, false, nil, false, false, err
		}
		cmd = exec.Command(h.execd, "-config", path, "-poll-interval", "0")
		return cmd, false, syscall.SIGTERM, true, true, nil
	}
	return nil, false, nil, false, false, fmt.Errorf("unknown consumer %q", kind)
}

// runTrial runs one consumer through one scenario in a fresh namespace.
func (h *harness) runTrial(sc scenario, kind string, run int) (t *trial) {
	t = &trial{Scenario: sc.Name, Consumer: kind, Run: run}
	fail := func(err error) *trial {
		t.Err = err.Error()
		return t
	}
	ns, del, err := h.newNS(sc)
	if err != nil {
		return fail(err)
	}
	defer del()
	view, err := rig.NewNSView("/run/netns/" + ns)
	if err != nil {
		return fail(err)
	}
	defer view.Close()

	cmd, selfExit, stopSig, stdoutNull, stdinPipe, err := h.consumerCmd(kind, sc, ns, run)
	if err != nil {
		return fail(err)
	}
	p, err := h.start(cmd, h.o.cpuConsumer, selfExit, stopSig, stdoutNull, stdinPipe)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Err != "" {
			t.Stderr = tail(p.errOut.String(), 2000)
		}
	}()

	// Ready once the group is bound and its copy mode set; the remaining
	// configuration follows within milliseconds.
	var inst rig.NFLOGInstance
	deadline := time.Now().Add(20 * time.Second)
	for {
		in, ok, err := view.Instance(h.o.group)
		if err != nil {
			return fail(err)
		}
		if ok && in.CopyMode == 2 {
			inst = in
			break
		}
		if p.exited() {
			return fail(fmt.Errorf("%s exited before binding the group: %v", kind, p.waitErr))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%s did not bind group %d within 20s", kind, h.o.group))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	t.CPUs = rig.CPUsAllowed(p.cmd.Process.Pid)
	startupNs, err := rig.ProcessCPU(p.cmd.Process.Pid)
	if err != nil {
		return fail(err)
	}
	h.debugf("bound: %+v, startup CPU %v", inst, time.Duration(startupNs))

	var snaps []consumerOut
	var drops uint64
	for i := 0; i < sc.Floods; i++ {
		before, err := rig.Logged(ns)
		if err != nil {
			return fail(err)
		}
		stopStalls := h.stalls(p, sc)
		fl, err := h.runFlood(ns, sc.Sources)
		stopStalls()
		if err != nil {
			return fail(err)
		}
		d, err := h.drain(view, inst.PortID, p)
		if err != nil {
			return fail(err)
		}
		after, err := rig.Logged(ns)
		if err != nil {
			return fail(err)
		}
		t.Phases = append(t.Phases, phase{Sent: fl.Sent, Logged: after - before, FloodS: fl.ElapsedS, KernelDrops: d - drops})
		drops = d
		if i < sc.Floods-1 && p.out != nil {
			s, err := snapshot(p)
			if err != nil {
				return fail(err)
			}
			snaps = append(snaps, s)
		}
	}

	if !p.selfExit {
		// Let it finish the work already received (e.g. writing metrics)
		// before stopping it: wait until its CPU time stops growing.
		h.settle(p)
		p.cmd.Process.Signal(p.stopSig)
		if p.stdin != nil {
			p.stdin.Close()
		}
	}
	if !p.wait(max(h.o.idle, 3*time.Second) + 15*time.Second) {
		p.cmd.Process.Signal(p.stopSig)
		if !p.wait(10 * time.Second) {
			return fail(fmt.Errorf("%s did not exit", kind))
		}
	}
	ps := p.cmd.ProcessState
	ru, _ := ps.SysUsage().(*syscall.Rusage)
	if ru != nil {
		t.CPUUserS = time.Duration(ru.Utime.Nano()).Seconds()
		t.CPUSysS = time.Duration(ru.Stime.Nano()).Seconds()
		t.MaxRSSKiB = ru.Maxrss
	}
	t.CPUStartupS = time.Duration(startupNs).Seconds()
	if !ps.Success() && !(kind == kindTcpdump || strings.HasPrefix(kind, "execd")) {
		return fail(fmt.Errorf("%s: %v", kind, p.waitErr))
	}
	t.KernelDrops = drops
	var floodS float64
	for _, ph := range t.Phases {
		t.Sent += ph.Sent
		t.Logged += ph.Logged
		floodS += ph.FloodS
	}
	if floodS > 0 {
		t.RateKpps = float64(t.Sent) / floodS / 1000
	}

	// The consumer's own counts.
	switch kind {
	case kindC, kindGoZeroCopy, kindGoCopy, kindGoZeroCopyBlocking, kindGoCopyBlocking, kindProbeRaw, "probe-rawfd", "probe-mmsg", "probe-rawfd-raw", "probe-rawfd-walk":
		final, err := lastResult(p.out.String())
		if err != nil {
			return fail(err)
		}
		t.Received, t.Lost, t.Overruns, t.Growths = &final.Received, &final.Lost, &final.Overruns, &final.Growths
		t.LostFrom = "seq"
		if _, probe := probeModes[kind]; probe {
			lost := t.Logged - min(final.Received, t.Logged)
			t.Lost, t.LostFrom = &lost, "count"
			t.Phases[len(t.Phases)-1].Lost = &lost
		}
		if kind != kindC {
			t.Mallocs = &final.Mallocs
		}
		t.RcvbufStart, t.RcvbufEnd = sc.Rcvbuf, final.Rcvbuf
		prev := consumerOut{}
		for i := range t.Phases {
			cur := final
			if i < len(snaps) {
				cur = snaps[i]
			}
			rec, lost, ovr := cur.Received-prev.Received, cur.Lost-prev.Lost, cur.Overruns-prev.Overruns
			t.Phases[i].Received, t.Phases[i].Lost, t.Phases[i].Overruns = &rec, &lost, &ovr
			prev = cur
		}
	case kindTcpdump:
		m := regexp.MustCompile(`(\d+) packets? captured`).FindStringSubmatch(p.errOut.String())
		if m == nil {
			return fail(fmt.Errorf("no packet count in tcpdump's output"))
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		lost := t.Logged - min(n, t.Logged)
		t.Received, t.Lost, t.LostFrom = &n, &lost, "count"
		t.Phases[0].Received, t.Phases[0].Lost = &n, &lost
	default:
		// The execd binary reports its counts only in its own metrics,
		// which went to /dev/null: the socket's drop counter says whether
		// anything was lost (each drop is a batch of up to -threshold).
		if drops == 0 {
			zero := uint64(0)
			t.Lost, t.LostFrom = &zero, "kernel drops"
		}
	}
	t.Msgs = t.Logged
	if t.Received != nil {
		t.Msgs = *t.Received
	}
	if t.Msgs > 0 {
		t.CPUPerMsgUS = (t.CPUUserS + t.CPUSysS - t.CPUStartupS) * 1e6 / float64(t.Msgs)
		if t.Mallocs != nil {
			a := float64(*t.Mallocs) / float64(t.Msgs)
			t.AllocsPerMsg = &a
		}
	}
	return t
}

func (h *harness) runFlood(ns string, sources int) (rig.FloodOut, error) {
	args := []string{"-netns", "/run/netns/" + ns, "-count", strconv.Itoa(h.o.count),
		"-duration", h.o.duration.String(), "-size", strconv.Itoa(h.o.payload)}
	if sources > 0 {
		args = append(args, "-sources", strconv.Itoa(sources))
	}
	if h.o.rate > 0 {
		args = append(args, "-rate", strconv.FormatFloat(h.o.rate, 'f', -1, 64))
	}
	fl, err := rig.RunFlood(h.flood, h.o.cpuSender, args...)
	if err == nil {
		h.debugf("flood: %+v", fl)
	}
	return fl, err
}

// stalls stops and continues the consumer as the scenario says, until the
// returned function is called (which leaves it running).
func (h *harness) stalls(p *proc, sc scenario) (stop func()) {
	if sc.Stall <= 0 || sc.StallEvery <= sc.Stall {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	pid := p.cmd.Process.Pid
	go func() {
		defer close(finished)
		defer syscall.Kill(pid, syscall.SIGCONT)
		tick := time.NewTicker(sc.StallEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if p.exited() {
				return
			}
			syscall.Kill(pid, syscall.SIGSTOP)
			select {
			case <-done:
				return
			case <-time.After(sc.Stall):
			}
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// drain waits until the kernel holds nothing more for the consumer (the
// group's pending batch and the socket's receive queue are empty for 200 ms)
// or the consumer exits, and returns the socket's drop counter.
func (h *harness) drain(view *rig.NSView, portID int, p *proc) (drops uint64, err error) {
	deadline := time.Now().Add(60 * time.Second)
	quiet := 0
	for {
		inst, iok, err := view.Instance(h.o.group)
		if err != nil {
			return drops, err
		}
		sock, sok, err := view.Socket(portID)
		if err != nil {
			return drops, err
		}
		if sok {
			drops = sock.Drops
		}
		if !iok || !sok {
			return drops, nil // the consumer closed its socket
		}
		if inst.Qlen == 0 && sock.Rmem == 0 {
			quiet++
			if quiet >= 4 {
				return drops, nil
			}
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			return drops, errors.New("the consumer did not drain its socket within 60s")
		}
		if p.wait(50 * time.Millisecond) {
			return drops, nil
		}
	}
}

// settle waits (at most 10 s) until the consumer's CPU time stops growing.
func (h *harness) settle(p *proc) {
	last, _ := rig.ProcessCPU(p.cmd.Process.Pid)
	for i := 0; i < 100; i++ {
		if p.wait(100 * time.Millisecond) {
			return
		}
		cur, err := rig.ProcessCPU(p.cmd.Process.Pid)
		if err != nil || cur-last < int64(time.Millisecond) {
			return
		}
		last = cur
	}
}

// snapshot asks a consumer for its counters so far (SIGUSR1).
func snapshot(p *proc) (consumerOut, error) {
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return consumerOut{}, err
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case line := <-p.out.lines:
			var c consumerOut
			if json.Unmarshal([]byte(line), &c) == nil && c.Snapshot {
				return c, nil
			}
		case <-timeout:
			return consumerOut{}, errors.New("no snapshot from the consumer within 5s")
		case <-p.done:
			return consumerOut{}, fmt.Errorf("the consumer exited between floods: %v", p.waitErr)
		}
	}
}

// lastResult returns the last non-snapshot JSON line of out.
func lastResult(out string) (consumerOut, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var c consumerOut
		if json.Unmarshal([]byte(lines[i]), &c) == nil && !c.Snapshot {
			return c, nil
		}
	}
	return consumerOut{}, fmt.Errorf("no result in the consumer's output %q", tail(out, 500))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
