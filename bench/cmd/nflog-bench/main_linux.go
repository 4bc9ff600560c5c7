//go:build linux

// Command nflog-bench is the NFLOG flood benchmark: it runs each consumer
// against the same NFLOG rule and settings, floods the rule with small UDP
// datagrams from a fresh network namespace, and reports per consumer the
// packets sent, received and lost, the CPU time per message (user+sys of
// the consumer process) and its ratio to the C reader's from the same run,
// and the peak RSS.
//
//	sudo go run ./bench/cmd/nflog-bench [-runs 3] [-execd bin/telegraf-nflog]
//
// Consumers: "c" (a minimal reader on libnetfilter_log, the baseline),
// "go-zerocopy" and "go-copy" (this module's reader, Reader.Loop and
// Reader.Next, in bench/cmd/nflog-consumer), "tcpdump" (tcpdump -i nflog:G
// -w /dev/null) and, with -execd, "execd", "execd-counters" and "execd-top"
// (the telegraf-nflog binary writing line protocol to /dev/null, with
// metrics = "packets", "counters", and "counters,top" with two rankings:
// source /24 and destination port, K = 20).
//
// Scenarios: "a" queue threshold 64 and an 8 MiB socket buffer; "b" threshold
// 1, 8 MiB; "c" threshold 64 and a 128 KiB buffer that our reader may grow
// to 8 MiB, flooded twice in one consumer lifetime (the loss of the second
// flood shows whether the growth recovered); "s" as "a" but from 2^20 source
// addresses, the worst case of the rankings. See bench/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nflogr/telegraf-nflog/bench/internal/rig"
)

type options struct {
	runs        int
	count       int
	duration    time.Duration
	rate        float64
	payload     int
	scenarios   string
	consumers   string
	execd       string
	binDir      string
	group       int
	rcvbuf      int
	smallRcvbuf int
	nlbuf       int
	copyRange   int
	flush       time.Duration
	idle        time.Duration
	stall       time.Duration
	stallEvery  time.Duration
	cpuSender   int
	cpuConsumer int
	jsonPath    string
	profileDir  string
	keep        bool
	verbose     bool
	render      string
}

const (
	kindC             = "c"
	kindGoZeroCopy    = "go-zerocopy"
	kindGoCopy        = "go-copy"
	kindTcpdump       = "tcpdump"
	kindExecd         = "execd"
	kindExecdCounters = "execd-counters"
	// kindExecdTop is counters mode plus two rankings (source /24 and
	// destination port, K = 20): the cost of the rankings is its CPU per
	// message over execd-counters', in the same run.
	kindExecdTop = "execd-top"
	// The -blocking kinds are the library's consumers reading with
	// nflog.ReadBlocking; the execd kinds run the binary's default,
	// read_mode = "blocking", and execd-netpoll the plugin's.
	kindGoZeroCopyBlocking = "go-zerocopy-blocking"
	kindGoCopyBlocking     = "go-copy-blocking"
	kindExecdNetpoll       = "execd-netpoll"
	// kindProbeRaw is not our reader: nflog-consumer -mode netpoll-raw reads
	// the reader's socket through Go's netpoller with recvfrom issued by
	// syscall.RawSyscall6, counting messages without decoding, to show what
	// the library's read path could cost. Not run unless asked for.
	kindProbeRaw = "probe-rawsyscall"
)

// probeModes maps the probe consumers (not readers from this module, not run
// unless asked for) to their nflog-consumer -mode: "probe-rawsyscall" as
// above; "probe-rawfd" blocks in recv(2) on a locked thread, like the C
// reader; "probe-mmsg" waits in the netpoller and reads with recvmmsg, and
// skips the read that would return EAGAIN when recvmmsg returned fewer
// datagrams than it asked for.
var probeModes = map[string]string{
	kindProbeRaw:      "netpoll-raw",
	"probe-rawfd":     "rawfd",
	"probe-mmsg":      "netpoll-mmsg",
	"probe-rawfd-raw": "rawfd-raw",
	// probe-rawfd-walk: probe-rawfd-raw with a lazy decode of each
	// message, as libnetfilter_log's for the C reader.
	"probe-rawfd-walk": "rawfd-raw-walk",
}

var (
	allKinds     = []string{kindC, kindGoZeroCopy, kindGoCopy, kindGoZeroCopyBlocking, kindGoCopyBlocking, kindTcpdump, kindExecd, kindExecdNetpoll, kindExecdCounters, kindExecdTop, kindProbeRaw, "probe-rawfd", "probe-mmsg", "probe-rawfd-raw", "probe-rawfd-walk"}
	defaultKinds = allKinds[:len(allKinds)-5]
)

type scenario struct {
	Name      string `json:"name"`
	Title     string `json:"title"`
	Threshold int    `json:"threshold"`
	Rcvbuf    int    `json:"rcvbuf"`
	MaxRcvbuf int    `json:"max_rcvbuf,omitempty"` // for our reader
	Floods    int    `json:"floods"`
	// Stall and StallEvery: the consumer is stopped (SIGSTOP) for Stall
	// every StallEvery during each flood, as a consumer that stalls now and
	// then (a GC pause, a slow output) would be.
	Stall      time.Duration `json:"stall,omitempty"`
	StallEvery time.Duration `json:"stall_every,omitempty"`
	// Sources: the flood comes from this many distinct source addresses
	// (nflog-flood -sources), 0 for one.
	Sources int `json:"sources,omitempty"`
	kinds   []string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 1, "repeat every trial this many times and report medians")
	flag.IntVar(&o.count, "count", 1_000_000, "datagrams per flood at most")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "time per flood at most")
	flag.Float64Var(&o.rate, "rate", 0, "flood rate limit, datagrams/s (0: as fast as the sender can)")
	flag.IntVar(&o.payload, "size", 64, "UDP payload bytes")
	flag.StringVar(&o.scenarios, "scenarios", "a,b,c", "scenarios to run: a (Q=64, 8 MiB), b (Q=1, 8 MiB), c (Q=64, 128 KiB growing to 8 MiB, two floods), s (as a, from 2^20 sources: the rankings' worst case)")
	flag.StringVar(&o.consumers, "consumers", strings.Join(defaultKinds, ","), "consumers to run (execd ones only with -execd): "+strings.Join(allKinds, ", "))
	flag.StringVar(&o.execd, "execd", "", `telegraf-nflog binary to benchmark ("auto": build ./cmd/telegraf-nflog; empty: skip)`)
	flag.StringVar(&o.binDir, "bin-dir", "", "directory with prebuilt nflog-consumer and nflog-flood (default: go build them)")
	flag.IntVar(&o.group, "group", 7, "NFLOG group")
	flag.IntVar(&o.rcvbuf, "rcvbuf", 8<<20, "socket receive buffer of scenarios a and b, and growth cap of c, bytes")
	flag.IntVar(&o.smallRcvbuf, "small-rcvbuf", 128<<10, "starting receive buffer of scenario c, bytes")
	flag.IntVar(&o.nlbuf, "nlbuf", 65536, "kernel batch buffer (NLBUFSIZ) for the C reader, our reader and execd, bytes")
	flag.IntVar(&o.copyRange, "copy-range", 128, "copy range (the rule also has --nflog-size 128)")
	flag.DurationVar(&o.flush, "flush", 100*time.Millisecond, "flush timeout")
	flag.DurationVar(&o.idle, "idle", time.Second, "consumers exit after this long without packets")
	flag.DurationVar(&o.stall, "stall", 20*time.Millisecond, "scenario c: stop the consumer (SIGSTOP) for this long ...")
	flag.DurationVar(&o.stallEvery, "stall-every", 100*time.Millisecond, "... every this long during each flood, so that a small buffer overflows (0: never)")
	flag.IntVar(&o.cpuSender, "cpu-sender", 0, "CPU to pin the sender to (-1: no pinning)")
	flag.IntVar(&o.cpuConsumer, "cpu-consumer", 1, "CPU to pin the consumer to (-1: no pinning)")
	flag.StringVar(&o.jsonPath, "json", "", `write every trial and the medians as JSON to this file ("-": stdout, after the tables)`)
	flag.StringVar(&o.profileDir, "profile-dir", "", "write a CPU profile of each of our consumers' trials into this directory")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, execd configs, outputs)")
	flag.BoolVar(&o.verbose, "v", false, "log every step")
	flag.StringVar(&o.render, "render", "", "print the tables of a saved -json report (no root needed) and exit")
	flag.Parse()

	if o.render != "" {
		r, err := rerender(o.render)
		if err != nil {
			fmt.Fprintln(os.Stderr, "nflog-bench:", err)
			os.Exit(1)
		}
		r.writeMarkdown(os.Stdout)
		return
	}

	if err := run(&o); err != nil {
		fmt.Fprintln(os.Stderr, "nflog-bench:", err)
		os.Exit(1)
	}
}

type harness struct {
	o        *options
	tmp      string
	flood    string
	consumer string
	creader  string
	execd    string
	tcpdump  string
	seq      int
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "# "+format+"\n", args...)
}

func (h *harness) debugf(format string, args ...any) {
	if h.o.verbose {
		h.logf(format, args...)
	}
}

func run(o *options) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, iptables, NFLOG sockets): sudo go run ./bench/cmd/nflog-bench")
	}
	if o.runs < 1 || o.count < 1 || o.duration <= 0 || o.duration > 2*time.Minute {
		return errors.New("-runs and -count must be positive and -duration in (0, 2m]")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing: apt-get install iproute2 iptables", tool)
		}
	}
	if runtime.NumCPU() < 2 {
		o.cpuSender, o.cpuConsumer = -1, -1
	}

	scenarios, err := pickScenarios(o)
	if err != nil {
		return err
	}
	kinds, err := pickKinds(o)
	if err != nil {
		return err
	}

	if len(kinds) == 0 {
		return errors.New("no consumer to run")
	}
	tmp, err := os.MkdirTemp("", "nflog-bench-")
	if err != nil {
		return err
	}
	h := &harness{o: o, tmp: tmp}
	if o.keep {
		h.logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	rig.StopOnSignal("nflog-bench")

	if err := h.prepare(kinds); err != nil {
		return err
	}
	kinds = slices.DeleteFunc(kinds, func(k string) bool {
		if k == kindTcpdump && h.tcpdump == "" {
			h.logf("tcpdump not found: skipping it (apt-get install tcpdump)")
			return true
		}
		return false
	})

	var trials []*trial
	for run := 1; run <= o.runs; run++ {
		for _, sc := range scenarios {
			var runTrials []*trial
			// Rotate the order from run to run, so that drift during a
			// run does not always favour the same consumer.
			order := append(slices.Clone(kinds[(run-1)%len(kinds):]), kinds[:(run-1)%len(kinds)]...)
			for _, k := range order {
				if !slices.Contains(sc.kinds, k) {
					continue
				}
				h.logf("run %d/%d, scenario %s (%s), consumer %s", run, o.runs, sc.Name, sc.Title, k)
				t := h.runTrial(sc, k, run)
				if t.Err != "" {
					h.logf("  error: %s", t.Err)
				} else {
					h.logf("  %s", t.summary())
				}
				runTrials = append(runTrials, t)
			}
			setRatios(runTrials)
			trials = append(trials, runTrials...)
		}
	}

	rep := makeReport(o, scenarios, kinds, trials)
	rep.writeMarkdown(os.Stdout)
	if o.jsonPath != "" {
		return rig.WriteJSON(o.jsonPath, rep)
	}
	return nil
}

func pickScenarios(o *options) ([]scenario, error) {
	all := []scenario{
		{Name: "a", Title: "threshold 64, 8 MiB buffer", Threshold: 64, Rcvbuf: o.rcvbuf, Floods: 1, kinds: allKinds},
		{Name: "b", Title: "threshold 1, 8 MiB buffer", Threshold: 1, Rcvbuf: o.rcvbuf, Floods: 1, kinds: allKinds},
		{Name: "c", Title: "threshold 64, 128 KiB buffer growing to 8 MiB, two floods", Threshold: 64,
			Rcvbuf: o.smallRcvbuf, MaxRcvbuf: o.rcvbuf, Floods: 2, Stall: o.stall, StallEvery: o.stallEvery,
			kinds: []string{kindC, kindGoZeroCopy}},
		// The top-talkers worst case: a flood from 2^20 sources, every
		// datagram from another /24, so the rankings' summaries churn on
		// every packet and their memory must stay bounded.
		{Name: "s", Title: "threshold 64, 8 MiB buffer, 2^20 source addresses", Threshold: 64, Rcvbuf: o.rcvbuf, Floods: 1,
			Sources: 1 << 20, kinds: []string{kindC, kindExecdCounters, kindExecdTop}},
	}
	if o.smallRcvbuf != 128<<10 || o.rcvbuf != 8<<20 {
		all[0].Title = fmt.Sprintf("threshold 64, %s buffer", size(o.rcvbuf))
		all[1].Title = fmt.Sprintf("threshold 1, %s buffer", size(o.rcvbuf))
		all[2].Title = fmt.Sprintf("threshold 64, %s buffer growing to %s, two floods", size(o.smallRcvbuf), size(o.rcvbuf))
	}
	if o.stall > 0 && o.stallEvery > o.stall {
		all[2].Title += fmt.Sprintf(", consumer stopped %v every %v", o.stall, o.stallEvery)
	} else {
		all[2].Stall, all[2].StallEvery = 0, 0
	}
	var out []scenario
	for _, name := range strings.Split(o.scenarios, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(all, func(s scenario) bool { return s.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q in -scenarios: use a, b, c, s", name)
		}
		out = append(out, all[i])
	}
	return out, nil
}

func pickKinds(o *options) ([]string, error) {
	var out []string
	for _, k := range strings.Split(o.consumers, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(allKinds, k) {
			return nil, fmt.Errorf("unknown consumer %q in -consumers: use %s", k, strings.Join(allKinds, ", "))
		}
		if strings.HasPrefix(k, kindExecd) && o.execd == "" {
			continue
		}
		out = append(out, k)
	}
	if !slices.Contains(out, kindC) {
		fmt.Fprintln(os.Stderr, "# warning: without the c consumer there is no baseline to compare with")
	}
	return out, nil
}

// prepare builds or finds every binary the chosen consumers need.
func (h *harness) prepare(kinds []string) error {
	bin := h.o.binDir
	if bin == "" {
		bin = filepath.Join(h.tmp, "bin")
		h.logf("building nflog-consumer and nflog-flood")
		if err := rig.BuildGo(bin, "./bench/cmd/nflog-consumer", "./bench/cmd/nflog-flood"); err != nil {
			return err
		}
	}
	h.flood = filepath.Join(bin, "nflog-flood")
	h.consumer = filepath.Join(bin, "nflog-consumer")
	for _, p := range []string{h.flood, h.consumer} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("missing %s: %w", p, err)
		}
	}
	if slices.Contains(kinds, kindC) {
		c, err := buildCReader(h.tmp, h.logf)
		if err != nil {
			return err
		}
		h.creader = c
	}
	if slices.Contains(kinds, kindTcpdump) {
		h.tcpdump, _ = exec.LookPath("tcpdump")
	}
	if h.o.execd == "auto" {
		h.logf("building telegraf-nflog")
		if err := rig.BuildGo(filepath.Join(h.tmp, "bin"), "./cmd/telegraf-nflog"); err != nil {
			return err
		}
		h.execd = filepath.Join(h.tmp, "bin", "telegraf-nflog")
	} else if h.o.execd != "" {
		p, err := filepath.Abs(h.o.execd)
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("-execd: %w", err)
		}
		h.execd = p
	}
	return nil
}

func size(b int) string {
	switch {
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}
