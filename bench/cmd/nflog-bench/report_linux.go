//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// setRatios sets each trial's CPU-per-message ratio to the C reader's in the
// same run and scenario.
func setRatios(ts []*trial) {
	var base float64
	for _, t := range ts {
		if t.Consumer == kindC && t.Err == "" {
			base = t.CPUPerMsgUS
		}
	}
	if base <= 0 {
		return
	}
	for _, t := range ts {
		if t.Err == "" && t.CPUPerMsgUS > 0 {
			t.RatioToC = t.CPUPerMsgUS / base
		}
	}
}

// summary is the median over the runs of one consumer in one scenario.
type summary struct {
	Scenario       string   `json:"scenario"`
	Consumer       string   `json:"consumer"`
	Runs           int      `json:"runs"` // successful ones
	Errors         []string `json:"errors,omitempty"`
	Sent           float64  `json:"sent"`
	RateKpps       float64  `json:"rate_kpps"`
	Received       *float64 `json:"received,omitempty"`
	Lost           *float64 `json:"lost,omitempty"`
	LostMax        *float64 `json:"lost_max,omitempty"`
	LostFrom       string   `json:"lost_from,omitempty"`
	KernelDrops    float64  `json:"kernel_drops"`
	KernelDropsMax float64  `json:"kernel_drops_max"`
	Overruns       *float64 `json:"overruns,omitempty"`
	Growths        *float64 `json:"growths,omitempty"`
	CPUS           float64  `json:"cpu_s"`
	CPUPerMsgUS    float64  `json:"cpu_us_per_msg"`
	RatioToC       float64  `json:"ratio_to_c,omitempty"`
	MaxRSSMiB      float64  `json:"max_rss_mib"`
	AllocsPerMsg   *float64 `json:"allocs_per_msg,omitempty"`
	RcvbufEnd      float64  `json:"rcvbuf_end,omitempty"`

	// Scenario c: the floods separately.
	FirstLost    *float64 `json:"first_flood_lost,omitempty"`
	LastSent     float64  `json:"last_flood_sent,omitempty"`
	LastLost     *float64 `json:"last_flood_lost,omitempty"`
	LastLostMax  *float64 `json:"last_flood_lost_max,omitempty"`
	LastDrops    float64  `json:"last_flood_kernel_drops,omitempty"`
	LastDropsMax float64  `json:"last_flood_kernel_drops_max,omitempty"`
	FirstDrops   float64  `json:"first_flood_kernel_drops,omitempty"`
}

type report struct {
	Date      string     `json:"date"`
	Host      string     `json:"host"`
	Settings  settings   `json:"settings"`
	Scenarios []scenario `json:"scenarios"`
	Summaries []summary  `json:"summaries"`
	Targets   []target   `json:"targets"`
	Trials    []*trial   `json:"trials"`
}

type target struct {
	Name   string `json:"name"`
	Result string `json:"result"` // "pass", "FAIL", "n/a"
	Detail string `json:"detail"`
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// collect returns the median of f over ts, or nil when f is unknown for any.
func collect(ts []*trial, f func(*trial) *uint64) (med, maxv *float64) {
	var v []float64
	for _, t := range ts {
		p := f(t)
		if p == nil {
			return nil, nil
		}
		v = append(v, float64(*p))
	}
	if len(v) == 0 {
		return nil, nil
	}
	m, x := median(v), slices.Max(v)
	return &m, &x
}

func medianOf(ts []*trial, f func(*trial) float64) float64 {
	v := make([]float64, 0, len(ts))
	for _, t := range ts {
		v = append(v, f(t))
	}
	return median(v)
}

// settings records the options of a run in the JSON report.
type settings struct {
	Runs        int     `json:"runs"`
	Count       int     `json:"count"`
	Duration    string  `json:"duration"`
	Rate        float64 `json:"rate"`
	Payload     int     `json:"payload"`
	Group       int     `json:"group"`
	Nlbuf       int     `json:"nlbuf"`
	CopyRange   int     `json:"copy_range"`
	Flush       string  `json:"flush"`
	Idle        string  `json:"idle"`
	CPUSender   int     `json:"cpu_sender"`
	CPUConsumer int     `json:"cpu_consumer"`
	Stall       string  `json:"stall"`
	StallEvery  string  `json:"stall_every"`
	Tree        string  `json:"tree"`
}

func makeReport(o *options, scs []scenario, kinds []string, trials []*trial) *report {
	r := &report{
		Date: time.Now().UTC().Format(time.RFC3339),
		Host: fmt.Sprintf("%d CPUs, %s/%s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH),
		Settings: settings{
			Runs: o.runs, Count: o.count, Duration: o.duration.String(), Rate: o.rate,
			Payload: o.payload, Group: o.group, Nlbuf: o.nlbuf, CopyRange: o.copyRange,
			Flush: o.flush.String(), Idle: o.idle.String(), CPUSender: o.cpuSender, CPUConsumer: o.cpuConsumer,
			Stall: o.stall.String(), StallEvery: o.stallEvery.String(), Tree: gitDescribe(),
		},
		Scenarios: scs,
		Trials:    trials,
	}
	r.summarize(kinds)
	return r
}

// rerender rebuilds the summaries and targets of a saved JSON report with
// this version of the harness (-render).
func rerender(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var kinds []string
	for _, k := range allKinds {
		for i := range r.Scenarios {
			sc := &r.Scenarios[i]
			if slices.ContainsFunc(r.Trials, func(t *trial) bool { return t.Scenario == sc.Name && t.Consumer == k }) {
				sc.kinds = append(sc.kinds, k)
				if !slices.Contains(kinds, k) {
					kinds = append(kinds, k)
				}
			}
		}
	}
	r.Summaries, r.Targets = nil, nil
	r.summarize(kinds)
	return &r, nil
}

func (r *report) summarize(kinds []string) {
	scs, trials := r.Scenarios, r.Trials
	for _, sc := range scs {
		for _, k := range kinds {
			if !slices.Contains(sc.kinds, k) {
				continue
			}
			var ok []*trial
			s := summary{Scenario: sc.Name, Consumer: k}
			for _, t := range trials {
				if t.Scenario != sc.Name || t.Consumer != k {
					continue
				}
				if t.Err != "" {
					s.Errors = append(s.Errors, fmt.Sprintf("run %d: %s", t.Run, t.Err))
					continue
				}
				ok = append(ok, t)
			}
			s.Runs = len(ok)
			if len(ok) > 0 {
				s.Sent = medianOf(ok, func(t *trial) float64 { return float64(t.Sent) })
				s.RateKpps = medianOf(ok, func(t *trial) float64 { return t.RateKpps })
				s.Received, _ = collect(ok, func(t *trial) *uint64 { return t.Received })
				s.Lost, s.LostMax = collect(ok, func(t *trial) *uint64 { return t.Lost })
				s.LostFrom = ok[0].LostFrom
				s.KernelDrops = medianOf(ok, func(t *trial) float64 { return float64(t.KernelDrops) })
				for _, t := range ok {
					s.KernelDropsMax = max(s.KernelDropsMax, float64(t.KernelDrops))
				}
				s.Overruns, _ = collect(ok, func(t *trial) *uint64 { return t.Overruns })
				s.Growths, _ = collect(ok, func(t *trial) *uint64 { return t.Growths })
				s.CPUS = medianOf(ok, func(t *trial) float64 { return t.CPUUserS + t.CPUSysS - t.CPUStartupS })
				s.CPUPerMsgUS = medianOf(ok, func(t *trial) float64 { return t.CPUPerMsgUS })
				s.RatioToC = medianOf(ok, func(t *trial) float64 { return t.RatioToC })
				s.MaxRSSMiB = medianOf(ok, func(t *trial) float64 { return float64(t.MaxRSSKiB) / 1024 })
				if ok[0].AllocsPerMsg != nil {
					a := medianOf(ok, func(t *trial) float64 { return *t.AllocsPerMsg })
					s.AllocsPerMsg = &a
				}
				s.RcvbufEnd = medianOf(ok, func(t *trial) float64 { return float64(t.RcvbufEnd) })
				if sc.Floods > 1 {
					s.FirstLost, _ = collect(ok, func(t *trial) *uint64 { return t.Phases[0].Lost })
					s.FirstDrops = medianOf(ok, func(t *trial) float64 { return float64(t.Phases[0].KernelDrops) })
					last := func(t *trial) phase { return t.Phases[len(t.Phases)-1] }
					s.LastSent = medianOf(ok, func(t *trial) float64 { return float64(last(t).Sent) })
					s.LastLost, s.LastLostMax = collect(ok, func(t *trial) *uint64 { return last(t).Lost })
					s.LastDrops = medianOf(ok, func(t *trial) float64 { return float64(last(t).KernelDrops) })
					s.LastDropsMax = slices.Max(func() []float64 {
						var v []float64
						for _, t := range ok {
							v = append(v, float64(last(t).KernelDrops))
						}
						return v
					}())
				}
			}
			r.Summaries = append(r.Summaries, s)
		}
	}
	r.Targets = evalTargets(r, trials)
}

// gitDescribe names the source tree measured, when run from the repository.
func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func (r *report) find(sc, k string) *summary {
	for i := range r.Summaries {
		if r.Summaries[i].Scenario == sc && r.Summaries[i].Consumer == k && r.Summaries[i].Runs > 0 {
			return &r.Summaries[i]
		}
	}
	return nil
}

func evalTargets(r *report, trials []*trial) []target {
	var out []target
	add := func(name string, ok, known bool, detail string) {
		res := "n/a"
		if known {
			res = "pass"
			if !ok {
				res = "FAIL"
			}
		}
		out = append(out, target{Name: name, Result: res, Detail: detail})
	}
	// CPU against the C reader of the same run (issue 14; issue 4's
	// <= 1.0x at Q=64 was withdrawn: a Go read loop that decodes nothing
	// already costs more, see bench/README.md).
	for _, g := range []struct {
		scenario, kind, what string
		max                  float64
	}{
		{"a", kindGoZeroCopy, "library zero-copy, Q=64", 1.2},
		{"b", kindGoZeroCopy, "library zero-copy, Q=1", 1.2},
		{"a", kindGoCopy, "library copying, Q=64", 1.5},
		{"a", kindExecd, "execd (blocking reads, its default), Q=64", 2.5},
		{"b", kindExecd, "execd (blocking reads, its default), Q=1", 1.5},
		{"a", kindGoZeroCopyBlocking, "library zero-copy, blocking reads, Q=64", 1.2},
		{"b", kindGoZeroCopyBlocking, "library zero-copy, blocking reads, Q=1", 1.2},
		{"a", kindGoCopyBlocking, "library copying, blocking reads, Q=64", 1.5},
	} {
		if s := r.find(g.scenario, g.kind); s != nil {
			add(fmt.Sprintf("%s: CPU/msg <= %.1fx C (median of per-run ratios)", g.what, g.max), s.RatioToC <= g.max, s.RatioToC > 0,
				fmt.Sprintf("%.2fx (%.3f µs/msg)", s.RatioToC, s.CPUPerMsgUS))
		}
	}
	for _, k := range []string{kindGoZeroCopy, kindGoCopy, kindGoZeroCopyBlocking, kindGoCopyBlocking} {
		for _, scn := range []string{"a", "b"} {
			// Per run: zero loss wherever the C reader had zero loss.
			var runs, cZero, bad int
			for _, t := range trials {
				if t.Scenario != scn || t.Consumer != k || t.Err != "" || t.Lost == nil {
					continue
				}
				runs++
				c := findTrial(trials, scn, kindC, t.Run)
				if c == nil || c.Lost == nil || *c.Lost != 0 {
					continue
				}
				cZero++
				if *t.Lost != 0 {
					bad++
				}
			}
			if runs == 0 {
				continue
			}
			name := fmt.Sprintf("%s, scenario %s: zero loss where C has zero loss", k, scn)
			add(name, bad == 0, cZero > 0, fmt.Sprintf("%d of %d runs with zero C loss lost packets (%d runs)", bad, cZero, runs))
		}
	}
	if s := r.find("a", kindExecd); s != nil {
		add("execd, Q=64: CPU/msg <= 3 µs (median)", s.CPUPerMsgUS <= 3, true, fmt.Sprintf("%.3f µs/msg, %.2fx C", s.CPUPerMsgUS, s.RatioToC))
		add("execd, Q=64: zero loss (no kernel drops in any run)", s.KernelDropsMax == 0, true,
			fmt.Sprintf("kernel drops median %.0f, max %.0f (batches of up to 64)", s.KernelDrops, s.KernelDropsMax))
	}
	if s, z := r.find("a", kindExecdCounters), r.find("a", kindGoZeroCopy); s != nil && z != nil && z.CPUPerMsgUS > 0 {
		ratio := s.CPUPerMsgUS / z.CPUPerMsgUS
		add("execd counters mode, Q=64: CPU/msg within 2x the library reader", ratio <= 2, true,
			fmt.Sprintf("%.2fx (%.3f vs %.3f µs/msg)", ratio, s.CPUPerMsgUS, z.CPUPerMsgUS))
	}
	for _, scn := range []string{"a", "b", "s"} {
		top, counters := r.find(scn, kindExecdTop), r.find(scn, kindExecdCounters)
		if top == nil || counters == nil || counters.CPUPerMsgUS <= 0 {
			continue
		}
		ratio := top.CPUPerMsgUS / counters.CPUPerMsgUS
		add(fmt.Sprintf("execd two rankings (src /24 + dport, K=20) over counters mode, scenario %s: CPU/msg <= 1.15x (medians, same run)", scn),
			ratio <= 1.15, true, fmt.Sprintf("%.2fx (%.3f vs %.3f µs/msg)", ratio, top.CPUPerMsgUS, counters.CPUPerMsgUS))
		// Per run: no kernel drops wherever counters mode had none.
		var runs, clean, bad int
		for _, t := range trials {
			if t.Scenario != scn || t.Consumer != kindExecdTop || t.Err != "" {
				continue
			}
			runs++
			c := findTrial(trials, scn, kindExecdCounters, t.Run)
			if c == nil || c.Err != "" || c.KernelDrops != 0 {
				continue
			}
			clean++
			if t.KernelDrops != 0 {
				bad++
			}
		}
		add(fmt.Sprintf("execd two rankings, scenario %s: zero loss where counters mode has zero loss", scn), bad == 0, clean > 0,
			fmt.Sprintf("%d of %d runs with no kernel drops in counters mode dropped (%d runs)", bad, clean, runs))
	}
	// Bounded memory: the rankings' summaries are sized by K, so 2^20
	// sources must not need more memory than one source (scenario a).
	if many, one := r.find("s", kindExecdTop), r.find("a", kindExecdTop); many != nil && one != nil && one.MaxRSSMiB > 0 {
		ratio := many.MaxRSSMiB / one.MaxRSSMiB
		add("execd two rankings, 2^20 sources (s) vs one source (a): max RSS <= 1.10x (medians)", ratio <= 1.10, true,
			fmt.Sprintf("%.2fx (%.1f vs %.1f MiB)", ratio, many.MaxRSSMiB, one.MaxRSSMiB))
	}
	if s := r.find("c", kindGoZeroCopy); s != nil && s.LastLost != nil {
		grew := s.Growths != nil && *s.Growths > 0
		var clean, n int
		for _, t := range trials {
			if t.Scenario == "c" && t.Consumer == kindGoZeroCopy && t.Err == "" && len(t.Phases) > 1 {
				n++
				if p := t.Phases[len(t.Phases)-1]; p.Lost != nil && *p.Lost == 0 && p.KernelDrops == 0 {
					clean++
				}
			}
		}
		add("auto-grow: second flood loses nothing after growing (all runs)", *s.LastLostMax == 0 && s.LastDropsMax == 0 && grew, true,
			fmt.Sprintf("%d of %d runs lost nothing in the second flood; growths %s, buffer end %s, first flood lost %s, second flood lost median %s max %.0f",
				clean, n, fptr(s.Growths, "%.0f"), size(int(s.RcvbufEnd)), fptr(s.FirstLost, "%.0f"), fptr(s.LastLost, "%.0f"), *s.LastLostMax))
	}
	return out
}

func findTrial(ts []*trial, sc, k string, run int) *trial {
	for _, t := range ts {
		if t.Scenario == sc && t.Consumer == k && t.Run == run && t.Err == "" {
			return t
		}
	}
	return nil
}

func fptr(p *float64, format string) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf(format, *p)
}

func count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func countPtr(p *float64) string {
	if p == nil {
		return "—"
	}
	return count(*p)
}

func (r *report) writeMarkdown(w io.Writer) {
	runs := r.Settings.Runs
	tree := ""
	if r.Settings.Tree != "" {
		tree = ", tree " + r.Settings.Tree
	}
	fmt.Fprintf(w, "## NFLOG flood benchmark (%s, %s%s; medians of %d run(s))\n\n", r.Host, r.Date, tree, runs)
	for _, sc := range r.Scenarios {
		fmt.Fprintf(w, "### Scenario %s: %s\n\n", sc.Name, sc.Title)
		if sc.Floods > 1 {
			fmt.Fprintln(w, "| consumer | buffer start → end | growths | flood 1 lost | flood 1 kernel drops | flood 2 sent | flood 2 lost (max) | flood 2 kernel drops (max) | CPU µs/msg | × C |")
			fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
		} else {
			fmt.Fprintln(w, "| consumer | sent | k msgs/s | received | lost (max) | kernel drops (max) | overruns | CPU s | CPU µs/msg | × C | allocs/msg | max RSS MiB |")
			fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
		}
		for _, s := range r.Summaries {
			if s.Scenario != sc.Name {
				continue
			}
			if s.Runs == 0 {
				fmt.Fprintf(w, "| %s | failed: %s |\n", s.Consumer, strings.ReplaceAll(strings.Join(s.Errors, "; "), "|", "/"))
				continue
			}
			ratio := "—"
			if s.RatioToC > 0 {
				ratio = fmt.Sprintf("%.2f", s.RatioToC)
			}
			lost := countPtr(s.Lost)
			if s.Lost != nil && s.LostMax != nil && *s.LostMax != *s.Lost {
				lost += " (" + count(*s.LostMax) + ")"
			}
			if strings.HasPrefix(s.Consumer, "execd") {
				lost += "¹"
			}
			if sc.Floods > 1 {
				start := size(sc.Rcvbuf)
				if s.Consumer == kindC {
					start += " (fixed)"
				}
				fmt.Fprintf(w, "| %s | %s → %s | %s | %s | %.0f | %s | %s (%s) | %.0f (%.0f) | %.3f | %s |\n",
					s.Consumer, start, size(int(s.RcvbufEnd)), fptr(s.Growths, "%.0f"), countPtr(s.FirstLost), s.FirstDrops,
					count(s.LastSent), countPtr(s.LastLost), countPtr(s.LastLostMax), s.LastDrops, s.LastDropsMax,
					s.CPUPerMsgUS, ratio)
				continue
			}
			drops := count(s.KernelDrops)
			if s.KernelDropsMax != s.KernelDrops {
				drops += " (" + count(s.KernelDropsMax) + ")"
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %s | %.3f | %.3f | %s | %s | %.1f |\n",
				s.Consumer, count(s.Sent), s.RateKpps, countPtr(s.Received), lost, drops,
				fptr(s.Overruns, "%.0f"), s.CPUS, s.CPUPerMsgUS, ratio, fptr(s.AllocsPerMsg, "%.3f"), s.MaxRSSMiB)
		}
		fmt.Fprintln(w)
	}
	if slices.ContainsFunc(r.Summaries, func(s summary) bool { return s.LostFrom == "kernel drops" || strings.HasPrefix(s.Consumer, "execd") }) {
		fmt.Fprintln(w, "¹ execd reports its counts only in its own metrics (sent to /dev/null here): lost is 0 when its socket dropped nothing in every run, unknown (—) otherwise, when each kernel drop is a batch of up to `threshold` messages; CPU per message divides by the rule's packet count, so it is understated when execd lost packets.")
		fmt.Fprintln(w)
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "### Targets (issues 4, 11 and 14)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| target | result | detail |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, t := range r.Targets {
			fmt.Fprintf(w, "| %s | %s | %s |\n", t.Name, t.Result, t.Detail)
		}
		fmt.Fprintln(w)
	}
	var errs []string
	for _, s := range r.Summaries {
		for _, e := range s.Errors {
			errs = append(errs, fmt.Sprintf("- %s/%s %s", s.Scenario, s.Consumer, e))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintln(w, "### Errors")
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.Join(errs, "\n"))
		fmt.Fprintln(w)
	}
}
