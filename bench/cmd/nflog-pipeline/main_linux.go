//go:build linux

// Command nflog-pipeline is the pipeline benchmark of issue 14: for the same
// NFLOG flood it runs three pipelines from the kernel to a file a database
// would read, and reports per logged packet the CPU (user+sys) of every
// process in the pipeline and their sum, the losses end to end (logged =
// points written + counted losses, and what nothing counts), and the
// zero-loss rate (the highest paced rate with no loss anywhere, found by
// bisection):
//
//  1. [[inputs.nflog]] compiled into Telegraf (bin/telegraf) → [[outputs.file]];
//  2. the execd binary (bin/telegraf-nflog) → stock Telegraf's [[inputs.execd]]
//     (bin/telegraf-stock) → the same output;
//  3. ulogd2 (NFLOG → JSON lines file, Debian's ulogd2 and ulogd2-json) →
//     stock Telegraf's [[inputs.tail]] with the json_v2 parser → the same
//     output;
//
// each in per-packet mode and in counters mode (pipelines 1 and 2: the
// plugin's metrics = "counters"; pipeline 3: [[aggregators.basicstats]]
// counting packets and summing their length per period, the per-packet
// metrics dropped).
//
//	sudo go run ./bench/cmd/nflog-pipeline -runs 3
//
// See bench/README.md ("Pipeline").
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

	"golang.org/x/sys/unix"

	"github.com/nflogr/telegraf-nflog/bench/internal/rig"
)

type options struct {
	runs          int
	count         int
	duration      time.Duration
	payload       int
	pipelines     string
	modes         string
	group         int
	threshold     int
	rcvbuf        int
	nlbuf         int
	copyRange     int
	flush         time.Duration
	bufferLimit   int
	aggPeriod     time.Duration
	pacedRate     float64
	bisect        int
	bisectTime    time.Duration
	maxLag        time.Duration
	quiet         time.Duration
	drainMax      time.Duration
	cpuSender     int
	cpuPipeline   int
	gomaxprocs    int
	telegraf      string
	telegrafStock string
	execd         string
	noBuild       bool
	influxd       string
	readMode      string
	jsonPath      string
	keep          bool
	verbose       bool
}

type harness struct {
	o             *options
	root          string
	tmp           string
	flood         string
	telegraf      string
	telegrafStock string
	execd         string
	ulogd         string
	ulogdPlugins  string
	influxd       string
	seq           int
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "# "+format+"\n", args...)
}

func (h *harness) debugf(format string, args ...any) {
	if h.o.verbose {
		h.logf(format, args...)
	}
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 3, "full-rate trials of each pipeline and mode; medians and spread are reported")
	flag.IntVar(&o.count, "count", 1_000_000, "datagrams per full-rate flood at most")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "time per full-rate flood at most")
	flag.IntVar(&o.payload, "size", 64, "UDP payload bytes")
	flag.StringVar(&o.pipelines, "pipelines", "1,2,3", "pipelines to run: 1 (inputs.nflog in Telegraf), 2 (execd binary -> inputs.execd), 3 (ulogd2 -> inputs.tail json_v2)")
	flag.StringVar(&o.modes, "modes", "packets,counters", "modes: packets (a point per packet), counters")
	flag.IntVar(&o.group, "group", 7, "NFLOG group")
	flag.IntVar(&o.threshold, "threshold", 64, "queue threshold of the rule and of every reader")
	flag.IntVar(&o.rcvbuf, "rcvbuf", 8<<20, "socket receive buffer of every reader, bytes (no growth)")
	flag.IntVar(&o.nlbuf, "nlbuf", 65536, "kernel batch buffer (nlbufsiz) of every reader, bytes")
	flag.IntVar(&o.copyRange, "copy-range", 128, "copy range (the rule also has --nflog-size)")
	flag.DurationVar(&o.flush, "flush", 100*time.Millisecond, "flush timeout of every reader")
	flag.IntVar(&o.bufferLimit, "buffer-limit", 500_000, "Telegraf's metric_buffer_limit")
	flag.DurationVar(&o.aggPeriod, "agg-period", time.Second, "period of pipeline 3's basicstats aggregator in counters mode (the lag allowed grows by what it exceeds the 1 s interval)")
	flag.Float64Var(&o.pacedRate, "paced-rate", 30000, "also run every pipeline and mode at this paced rate, datagrams/s, below the peer pipeline's zero-loss rate, so that CPU per packet compares with no loss anywhere (0: skip)")
	flag.IntVar(&o.bisect, "bisect", 5, "bisection steps for the zero-loss rate of each pipeline and mode (0: none)")
	flag.DurationVar(&o.bisectTime, "bisect-duration", 5*time.Second, "length of each bisection flood")
	flag.DurationVar(&o.maxLag, "max-lag", 3*time.Second, "a run passes only if it lost nothing and every packet was written or counted within this long after the flood (Telegraf's 1 s interval and 1 s flush included)")
	flag.DurationVar(&o.quiet, "quiet", 4*time.Second, "stop waiting for the pipeline after this long without progress")
	flag.DurationVar(&o.drainMax, "drain-max", 120*time.Second, "stop waiting for the pipeline after this long in any case")
	flag.IntVar(&o.cpuSender, "cpu-sender", 0, "CPU of the sender and the harness (-1: no pinning)")
	flag.IntVar(&o.cpuPipeline, "cpu-pipeline", 1, "CPU every pipeline process is pinned to (-1: no pinning)")
	flag.IntVar(&o.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS of Telegraf and the execd binary (0: the Go default, the CPUs they are pinned to)")
	flag.StringVar(&o.telegraf, "telegraf", "bin/telegraf", "Telegraf with inputs.nflog (built by scripts/build-telegraf.sh)")
	flag.StringVar(&o.telegrafStock, "telegraf-stock", "bin/telegraf-stock", "stock Telegraf with inputs.execd, inputs.tail, parsers.json_v2, aggregators.basicstats (scripts/build-telegraf.sh --stock)")
	flag.StringVar(&o.execd, "execd", "bin/telegraf-nflog", "the execd binary (go build ./cmd/telegraf-nflog)")
	flag.BoolVar(&o.noBuild, "no-build", false, "use the binaries as they are (default: rebuild bin/telegraf-nflog and bin/telegraf, build bin/telegraf-stock if it lacks a plugin)")
	flag.StringVar(&o.influxd, "influxdb", "", `also write every pipeline's points to an InfluxDB 1.x started per trial on loopback, its CPU counted in the sum: the influxd binary, or "auto" for the one on PATH (Debian's influxdb, installed with apt-get if missing); empty: no database`)
	flag.StringVar(&o.readMode, "read-mode", "", `read_mode of pipelines 1 and 2 ("netpoll" or "blocking"); empty: each one's default, "netpoll" in Telegraf and "blocking" in the execd binary`)
	flag.StringVar(&o.jsonPath, "json", "", `write every trial and the summaries as JSON to this file ("-": stdout)`)
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, points, stats, ulogd's JSON)")
	flag.BoolVar(&o.verbose, "v", false, "log every step")
	flag.Parse()
	if err := run(&o); err != nil {
		fmt.Fprintln(os.Stderr, "nflog-pipeline:", err)
		os.Exit(1)
	}
}

func run(o *options) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, iptables, NFLOG sockets): sudo go run ./bench/cmd/nflog-pipeline")
	}
	if o.runs < 1 || o.count < 1 || o.duration <= 0 || o.duration > 2*time.Minute || o.bisect < 0 || o.bisect > 10 || o.pacedRate < 0 {
		return errors.New("-runs and -count must be positive, -duration in (0, 2m], -bisect in [0, 10], -paced-rate >= 0")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing: apt-get install iproute2 iptables", tool)
		}
	}
	if runtime.NumCPU() < 2 {
		o.cpuSender, o.cpuPipeline = -1, -1
	}
	pipes, err := pick(o.pipelines, []string{pipeIntree, pipeExecd, pipeUlogd}, "-pipelines")
	if err != nil {
		return err
	}
	modes, err := pick(o.modes, []string{modePackets, modeCounters}, "-modes")
	if err != nil {
		return err
	}
	switch o.readMode {
	case "", "netpoll", "blocking":
	default:
		return fmt.Errorf(`-read-mode %q: use "netpoll", "blocking" or nothing (each pipeline's default)`, o.readMode)
	}
	root, err := rig.ModuleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "nflog-pipeline-")
	if err != nil {
		return err
	}
	h := &harness{o: o, root: root, tmp: tmp}
	if o.keep {
		h.logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	rig.StopOnSignal("nflog-pipeline")
	if err := h.prepare(pipes); err != nil {
		return err
	}
	// The harness polls files while the pipeline works: keep it on the
	// sender's CPU, off the pipeline's.
	pinSelf(o.cpuSender)

	var trials []*trial
	for run := 1; run <= o.runs; run++ {
		for _, mode := range modes {
			// Rotate the order from run to run, so that drift does not
			// always favour the same pipeline.
			k := (run - 1) % len(pipes)
			order := append(slices.Clone(pipes[k:]), pipes[:k]...)
			for _, p := range order {
				h.logf("run %d/%d, pipeline %s, %s mode, full rate", run, o.runs, pipeNames[p], mode)
				t := h.runTrial(p, mode, run, 0, o.count, o.duration)
				h.logf("  %s", t.summary())
				trials = append(trials, t)
			}
			if o.pacedRate <= 0 {
				continue
			}
			for _, p := range order {
				h.logf("run %d/%d, pipeline %s, %s mode, paced at %.0fk/s", run, o.runs, pipeNames[p], mode, o.pacedRate/1000)
				t := h.runTrial(p, mode, run, o.pacedRate, int(o.pacedRate*o.duration.Seconds()), o.duration+2*time.Second)
				h.logf("  %s", t.summary())
				trials = append(trials, t)
			}
		}
	}
	setRatios(trials)

	// The zero-loss rate: bisection between 0 and the sender's full rate
	// as measured, when the full-rate runs lost anything.
	var zls []*zeroLoss
	for _, mode := range modes {
		for _, p := range pipes {
			zls = append(zls, h.zeroLoss(p, mode, trials))
		}
	}

	rep := makeReport(o, pipes, modes, trials, zls)
	rep.writeMarkdown(os.Stdout)
	if o.jsonPath != "" {
		return rig.WriteJSON(o.jsonPath, rep)
	}
	return nil
}

func pick(list string, all []string, flagName string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(all, s) {
			return nil, fmt.Errorf("unknown %q in %s: use %s", s, flagName, strings.Join(all, ", "))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// zeroLoss is the bisection of one pipeline and mode.
type zeroLoss struct {
	Pipeline string       `json:"pipeline"`
	Mode     string       `json:"mode"`
	FullKpps float64      `json:"full_rate_kpps"` // the sender's rate in the full-rate runs (median)
	FullPass bool         `json:"full_rate_pass"` // every full-rate run lost nothing and kept up
	LoKpps   float64      `json:"lo_kpps"`        // highest rate that passed
	HiKpps   float64      `json:"hi_kpps"`        // lowest rate that failed
	Steps    []bisectStep `json:"steps,omitempty"`
	Trials   []*trial     `json:"trials,omitempty"`
}

func (h *harness) zeroLoss(p, mode string, trials []*trial) *zeroLoss {
	z := &zeroLoss{Pipeline: p, Mode: mode}
	var rates []float64
	z.FullPass = true
	n := 0
	for _, t := range trials {
		if t.Pipeline != p || t.Mode != mode || t.TargetRate != 0 || t.Err != "" {
			continue
		}
		n++
		rates = append(rates, t.RateKpps)
		z.FullPass = z.FullPass && t.Pass
	}
	if n == 0 {
		z.FullPass = false
		return z
	}
	z.FullKpps = median(rates)
	if z.FullPass {
		z.LoKpps = z.FullKpps
		return z
	}
	b := newBisector(z.FullKpps*1000, h.o.bisect)
	for {
		rate, ok := b.next()
		if !ok {
			break
		}
		count := int(rate * h.o.bisectTime.Seconds())
		h.logf("zero-loss rate of pipeline %s, %s mode: %.0fk/s for %v", pipeNames[p], mode, rate/1000, h.o.bisectTime)
		t := h.runTrial(p, mode, 0, rate, count, h.o.bisectTime+2*time.Second)
		h.logf("  %s", t.summary())
		z.Trials = append(z.Trials, t)
		b.record(rate, t.Err == "" && t.Pass)
	}
	lo, hi := b.result()
	z.LoKpps, z.HiKpps, z.Steps = lo/1000, hi/1000, b.tried
	return z
}

// prepare builds or finds every binary the chosen pipelines need.
func (h *harness) prepare(pipes []string) error {
	o := h.o
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(h.root, p)
	}
	h.logf("building nflog-flood")
	bin := filepath.Join(h.tmp, "bin")
	if err := rig.BuildGo(bin, "./bench/cmd/nflog-flood"); err != nil {
		return err
	}
	h.flood = filepath.Join(bin, "nflog-flood")

	if slices.Contains(pipes, pipeExecd) {
		h.execd = abs(o.execd)
		if !o.noBuild {
			h.logf("building %s (make build)", h.execd)
			if err := goBuild(h.root, h.execd, "./cmd/telegraf-nflog"); err != nil {
				return err
			}
		}
		if _, err := os.Stat(h.execd); err != nil {
			return fmt.Errorf("the execd binary: %w (make build)", err)
		}
	}
	if slices.Contains(pipes, pipeIntree) {
		h.telegraf = abs(o.telegraf)
		if !o.noBuild {
			h.logf("building %s with inputs.nflog (scripts/build-telegraf.sh; seconds with a warm build cache, minutes otherwise)", h.telegraf)
			if err := h.buildScript("--out", h.telegraf); err != nil {
				return err
			}
		}
		if err := checkPlugins(h.telegraf, "inputs.nflog", "inputs.internal", "outputs.file"); err != nil {
			return fmt.Errorf("%w (make telegraf)", err)
		}
	}
	if slices.Contains(pipes, pipeExecd) || slices.Contains(pipes, pipeUlogd) {
		h.telegrafStock = abs(o.telegrafStock)
		need := []string{"inputs.execd", "inputs.internal", "inputs.tail", "outputs.file", "parsers.json_v2", "parsers.influx", "aggregators.basicstats"}
		if err := checkPlugins(h.telegrafStock, need...); err != nil && !o.noBuild {
			h.logf("building %s (scripts/build-telegraf.sh --stock): %v", h.telegrafStock, err)
			if err := h.buildScript("--stock", "--out", h.telegrafStock); err != nil {
				return err
			}
		}
		if err := checkPlugins(h.telegrafStock, need...); err != nil {
			return fmt.Errorf("%w (make telegraf-stock)", err)
		}
	}
	if slices.Contains(pipes, pipeUlogd) {
		if err := h.findUlogd(); err != nil {
			return err
		}
	}
	if o.influxd != "" {
		if err := h.findInfluxd(); err != nil {
			return err
		}
	}
	// Run copies, so that a rebuild of bin/ (make, a test) during the
	// benchmark changes nothing under it.
	for _, p := range []*string{&h.execd, &h.telegraf, &h.telegrafStock} {
		if *p == "" {
			continue
		}
		c := filepath.Join(bin, filepath.Base(*p))
		if err := copyFile(*p, c); err != nil {
			return err
		}
		*p = c
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

func goBuild(root, out, pkg string) error {
	cmd := exec.Command(rig.GoTool(), "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s %s: %w\n%s", out, pkg, err, b)
	}
	return nil
}

func (h *harness) buildScript(args ...string) error {
	cmd := exec.Command("bash", append([]string{filepath.Join(h.root, "scripts", "build-telegraf.sh")}, args...)...)
	cmd.Dir = h.root
	// The script needs go in PATH; under sudo it may not be.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(rig.GoTool())+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/build-telegraf.sh %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// checkPlugins runs "telegraf plugins" and checks that it lists each one.
func checkPlugins(bin string, want ...string) error {
	out, err := exec.Command(bin, "plugins").Output()
	if err != nil {
		return fmt.Errorf("%s plugins: %w", bin, err)
	}
	have := strings.Fields(string(out))
	var missing []string
	for _, p := range want {
		if !slices.Contains(have, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks %s", bin, strings.Join(missing, ", "))
	}
	return nil
}

// findUlogd finds ulogd and its NFLOG and JSON plugins, installing Debian's
// ulogd2 and ulogd2-json with apt-get when they are missing (no service is
// started: the harness starts ulogd itself, in the trial's namespace).
func (h *harness) findUlogd() error {
	find := func() bool {
		p, err := exec.LookPath("ulogd")
		if err != nil {
			for _, c := range []string{"/usr/sbin/ulogd", "/sbin/ulogd"} {
				if _, err := os.Stat(c); err == nil {
					p = c
					break
				}
			}
		}
		if p == "" {
			return false
		}
		dirs, _ := filepath.Glob("/usr/lib/*/ulogd")
		for _, dir := range append(dirs, "/usr/lib/ulogd", "/usr/lib64/ulogd") {
			_, e1 := os.Stat(filepath.Join(dir, "ulogd_inppkt_NFLOG.so"))
			_, e2 := os.Stat(filepath.Join(dir, "ulogd_output_JSON.so"))
			if e1 == nil && e2 == nil {
				h.ulogd, h.ulogdPlugins = p, dir
				return true
			}
		}
		return false
	}
	if find() {
		return nil
	}
	h.logf("installing ulogd2 and ulogd2-json (apt-get)")
	if err := rig.AptInstall("ulogd2", "ulogd2-json"); err != nil {
		return fmt.Errorf("pipeline 3 needs ulogd2 and ulogd2-json (Debian): %w; install them, or run without it: -pipelines 1,2", err)
	}
	if !find() {
		return errors.New("ulogd2 and ulogd2-json are installed but ulogd or its NFLOG/JSON plugins (ulogd_inppkt_NFLOG.so, ulogd_output_JSON.so) were not found")
	}
	return nil
}

// pinSelf pins every thread of the harness to cpu; threads started later
// inherit it from the thread that starts them.
func pinSelf(cpu int) {
	if cpu < 0 {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	tasks, _ := filepath.Glob("/proc/self/task/*")
	for _, t := range tasks {
		var tid int
		if _, err := fmt.Sscanf(filepath.Base(t), "%d", &tid); err == nil {
			unix.SchedSetaffinity(tid, &set)
		}
	}
}
