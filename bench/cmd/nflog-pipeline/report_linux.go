//go:build linux

package main

import (
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// setRatios sets each trial's CPU per packet over pipeline 3's in the same
// run, mode and flood (full rate or paced).
func setRatios(ts []*trial) {
	for _, t := range ts {
		if t.Err != "" || t.Pipeline == pipeUlogd {
			continue
		}
		for _, b := range ts {
			if b.Pipeline == pipeUlogd && b.Run == t.Run && b.Mode == t.Mode && b.TargetRate == t.TargetRate && b.Err == "" && b.CPUPerPktUS > 0 {
				t.Ratio = t.CPUPerPktUS / b.CPUPerPktUS
			}
		}
	}
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

// spread is the median, minimum and maximum of f over ts.
type spread struct {
	Med float64 `json:"median"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

func spreadOf(ts []*trial, f func(*trial) float64) spread {
	var v []float64
	for _, t := range ts {
		v = append(v, f(t))
	}
	if len(v) == 0 {
		return spread{}
	}
	return spread{Med: median(v), Min: slices.Min(v), Max: slices.Max(v)}
}

type summary struct {
	Pipeline    string    `json:"pipeline"`
	Mode        string    `json:"mode"`
	Rate        float64   `json:"target_rate"` // 0: full rate
	Runs        int       `json:"runs"`
	Errors      []string  `json:"errors,omitempty"`
	Sent        spread    `json:"sent"`
	Logged      spread    `json:"logged"`
	Delivered   spread    `json:"delivered"`
	Counted     spread    `json:"counted_losses"`
	Unaccounted spread    `json:"unaccounted"`
	SeqGaps     *spread   `json:"seq_gaps,omitempty"`
	RateKpps    spread    `json:"rate_kpps"`
	LagS        spread    `json:"lag_s"`
	ReaderUS    spread    `json:"reader_us_per_pkt"`
	TelegrafUS  spread    `json:"telegraf_us_per_pkt"`
	DatabaseUS  *spread   `json:"database_us_per_pkt,omitempty"`
	DBWritten   *spread   `json:"db_written,omitempty"`
	DBDropped   *spread   `json:"db_dropped,omitempty"`
	DBStored    *spread   `json:"db_stored,omitempty"`
	SumUS       spread    `json:"sum_us_per_pkt"`
	SumDelivUS  spread    `json:"sum_us_per_delivered_pkt"`
	Ratio       *spread   `json:"ratio_to_3,omitempty"`
	ZeroLoss    *zeroLoss `json:"zero_loss,omitempty"`
}

type report struct {
	Date      string         `json:"date"`
	Host      string         `json:"host"`
	Tree      string         `json:"tree"`
	Command   string         `json:"command"`
	Settings  map[string]any `json:"settings"`
	Summaries []summary      `json:"summaries"`
	Targets   []target       `json:"targets"`
	Trials    []*trial       `json:"trials"`
}

type target struct {
	Name   string `json:"name"`
	Result string `json:"result"` // "pass", "FAIL", "n/a"
	Detail string `json:"detail"`
}

func makeReport(o *options, pipes, modes []string, trials []*trial, zls []*zeroLoss) *report {
	r := &report{
		Date: time.Now().UTC().Format(time.RFC3339),
		Host: fmt.Sprintf("%d CPUs, %s/%s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH),
		Tree: gitDescribe(),
		Settings: map[string]any{
			"runs": o.runs, "count": o.count, "duration": o.duration.String(), "size": o.payload,
			"threshold": o.threshold, "rcvbuf": o.rcvbuf, "nlbuf": o.nlbuf, "copy_range": o.copyRange,
			"flush": o.flush.String(), "buffer_limit": o.bufferLimit, "agg_period": o.aggPeriod.String(),
			"paced_rate": o.pacedRate, "bisect": o.bisect, "bisect_duration": o.bisectTime.String(), "max_lag": o.maxLag.String(),
			"cpu_sender": o.cpuSender, "cpu_pipeline": o.cpuPipeline, "gomaxprocs": o.gomaxprocs,
			"influxdb": o.influxd != "", "read_mode": o.readMode,
		},
		Trials: trials,
	}
	rates := []float64{0}
	if o.pacedRate > 0 {
		rates = append(rates, o.pacedRate)
	}
	for _, rate := range rates {
		for _, mode := range modes {
			for _, p := range pipes {
				r.summarize(p, mode, rate, trials, zls)
			}
		}
	}
	r.targets()
	return r
}

func (r *report) summarize(p, mode string, rate float64, trials []*trial, zls []*zeroLoss) {
	s := summary{Pipeline: p, Mode: mode, Rate: rate}
	var ok []*trial
	for _, t := range trials {
		if t.Pipeline != p || t.Mode != mode || t.TargetRate != rate {
			continue
		}
		if t.Err != "" {
			s.Errors = append(s.Errors, fmt.Sprintf("run %d: %s", t.Run, t.Err))
			continue
		}
		ok = append(ok, t)
	}
	for _, z := range zls {
		if z.Pipeline == p && z.Mode == mode && rate == 0 {
			s.ZeroLoss = z
		}
	}
	s.Runs = len(ok)
	if len(ok) > 0 {
		s.Sent = spreadOf(ok, func(t *trial) float64 { return float64(t.Sent) })
		s.Logged = spreadOf(ok, func(t *trial) float64 { return float64(t.Logged) })
		s.Delivered = spreadOf(ok, func(t *trial) float64 { return float64(t.Account.Delivered) })
		s.Counted = spreadOf(ok, func(t *trial) float64 { return float64(t.Account.Losses.total()) })
		s.Unaccounted = spreadOf(ok, func(t *trial) float64 { return float64(t.Unaccounted) })
		if !slices.ContainsFunc(ok, func(t *trial) bool { return t.SeqGaps == nil }) {
			g := spreadOf(ok, func(t *trial) float64 { return float64(*t.SeqGaps) })
			s.SeqGaps = &g
		}
		s.RateKpps = spreadOf(ok, func(t *trial) float64 { return t.RateKpps })
		s.LagS = spreadOf(ok, func(t *trial) float64 { return t.LagS })
		s.ReaderUS = spreadOf(ok, func(t *trial) float64 { return t.ReaderUS })
		s.TelegrafUS = spreadOf(ok, func(t *trial) float64 { return t.TelegrafUS })
		if !slices.ContainsFunc(ok, func(t *trial) bool { return t.DBWritten == nil }) {
			db := spreadOf(ok, func(t *trial) float64 { return t.DatabaseUS })
			w := spreadOf(ok, func(t *trial) float64 { return float64(*t.DBWritten) })
			d := spreadOf(ok, func(t *trial) float64 { return float64(t.DBDropped) })
			s.DatabaseUS, s.DBWritten, s.DBDropped = &db, &w, &d
		}
		if !slices.ContainsFunc(ok, func(t *trial) bool { return t.DBStored == nil }) {
			x := spreadOf(ok, func(t *trial) float64 { return float64(*t.DBStored) })
			s.DBStored = &x
		}
		s.SumUS = spreadOf(ok, func(t *trial) float64 { return t.CPUPerPktUS })
		s.SumDelivUS = spreadOf(ok, func(t *trial) float64 { return t.CPUPerDeliveredUS })
		if p != pipeUlogd && !slices.ContainsFunc(ok, func(t *trial) bool { return t.Ratio == 0 }) {
			x := spreadOf(ok, func(t *trial) float64 { return t.Ratio })
			s.Ratio = &x
		}
	}
	r.Summaries = append(r.Summaries, s)
}

// find returns the full-rate summary of p in mode.
func (r *report) find(p, mode string) *summary { return r.findAt(p, mode, 0) }

func (r *report) findAt(p, mode string, rate float64) *summary {
	for i := range r.Summaries {
		if r.Summaries[i].Pipeline == p && r.Summaries[i].Mode == mode && r.Summaries[i].Rate == rate && r.Summaries[i].Runs > 0 {
			return &r.Summaries[i]
		}
	}
	return nil
}

// telegrafNearZero is the counters-mode bound on Telegraf's own CPU per
// packet, µs: a hundredth of what parsing a point per packet costs it.
const telegrafNearZero = 0.05

func (r *report) targets() {
	for _, p := range []string{pipeIntree, pipeExecd} {
		name := fmt.Sprintf("per-packet mode: pipeline %s ≤ 0.5× the CPU per packet of pipeline 3", p)
		s := r.find(p, modePackets)
		switch {
		case s == nil || s.Ratio == nil:
			r.Targets = append(r.Targets, target{name, "n/a", "not measured (both pipelines needed in the same runs)"})
		default:
			res := "pass"
			if s.Ratio.Med > 0.5 {
				res = "FAIL"
			}
			detail := fmt.Sprintf("full rate: median %.2f× (%.2f–%.2f), %.3f vs %.3f µs/pkt",
				s.Ratio.Med, s.Ratio.Min, s.Ratio.Max, s.SumUS.Med, r.find(pipeUlogd, modePackets).SumUS.Med)
			for _, x := range r.Summaries {
				if x.Pipeline == p && x.Mode == modePackets && x.Rate > 0 && x.Ratio != nil {
					if b := r.findAt(pipeUlogd, modePackets, x.Rate); b != nil {
						detail += fmt.Sprintf("; paced at %.0fk/s: median %.2f× (%.2f–%.2f), %.3f vs %.3f µs/pkt",
							x.Rate/1000, x.Ratio.Med, x.Ratio.Min, x.Ratio.Max, x.SumUS.Med, b.SumUS.Med)
						if x.Ratio.Med > 0.5 {
							res = "FAIL"
						}
					}
				}
			}
			r.Targets = append(r.Targets, target{name, res, detail})
		}
		name = fmt.Sprintf("counters mode: pipeline %s loses nothing at the sender's full rate, Telegraf ≤ %.2f µs/pkt", p, telegrafNearZero)
		s = r.find(p, modeCounters)
		if s == nil {
			r.Targets = append(r.Targets, target{name, "n/a", "not measured"})
			continue
		}
		full := s.ZeroLoss != nil && s.ZeroLoss.FullPass
		res := "pass"
		detail := fmt.Sprintf("every full-rate run loss-free: %v (%.0fk/s); ", full, s.RateKpps.Med)
		telegraf := s.TelegrafUS.Med
		if p == pipeIntree {
			// The reader runs inside Telegraf: what Telegraf adds is its
			// CPU over the reader's alone, the execd binary's in
			// pipeline 2 (the same plugin code).
			if s2 := r.find(pipeExecd, modeCounters); s2 != nil {
				telegraf = s.TelegrafUS.Med - s2.ReaderUS.Med
				detail += fmt.Sprintf("Telegraf with the reader %.3f µs/pkt (%.3f–%.3f), the reader alone (pipeline 2's binary) %.3f: Telegraf adds %.3f",
					s.TelegrafUS.Med, s.TelegrafUS.Min, s.TelegrafUS.Max, s2.ReaderUS.Med, telegraf)
				if r.Settings["read_mode"] == "" {
					detail += "; the two read differently (netpoll in Telegraf, blocking in the binary, their defaults): -read-mode netpoll compares like with like"
				}
			} else {
				detail += fmt.Sprintf("Telegraf with the reader %.3f µs/pkt (the reader alone not measured: pipeline 2 needed)", s.TelegrafUS.Med)
			}
		} else {
			detail += fmt.Sprintf("Telegraf %.3f µs/pkt (%.3f–%.3f), sum %.3f", s.TelegrafUS.Med, s.TelegrafUS.Min, s.TelegrafUS.Max, s.SumUS.Med)
		}
		if !full || telegraf > telegrafNearZero {
			res = "FAIL"
		}
		r.Targets = append(r.Targets, target{name, res, detail})
	}
}

func (r *report) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "## Pipeline benchmark, %s (%s, %s)\n\n", r.Date, r.Host, r.Tree)
	fmt.Fprintf(w, "Settings: %s\n\n", settingsLine(r.Settings))
	fmt.Fprintln(w, "| pipeline | mode | flood | runs | sent | points written (packets) | counted losses | unaccounted | reader µs/pkt | Telegraf µs/pkt | sum µs/pkt (min–max) | × pipeline 3 (min–max) | sum µs per written pkt | full rate k/s | zero-loss rate k/s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range r.Summaries {
		if s.Runs == 0 {
			fmt.Fprintf(w, "| %s | %s | %s | 0 | %s |\n", pipeNames[s.Pipeline], s.Mode, floodText(s.Rate), strings.Join(s.Errors, "; "))
			continue
		}
		unacc := fmt.Sprintf("%.0f", s.Unaccounted.Med)
		if s.Unaccounted.Min != s.Unaccounted.Max {
			unacc += fmt.Sprintf(" (%.0f–%.0f)", s.Unaccounted.Min, s.Unaccounted.Max)
		}
		if s.SeqGaps != nil && (s.SeqGaps.Max > 0 || s.Unaccounted.Max != 0) {
			unacc += fmt.Sprintf("; seq gaps in ulogd's JSON %.0f", s.SeqGaps.Med)
		}
		reader := fmt.Sprintf("%.3f", s.ReaderUS.Med)
		if s.Pipeline == pipeIntree {
			reader = "(in Telegraf)"
		}
		ratio := "1 (base)"
		if s.Pipeline != pipeUlogd {
			ratio = "—"
			if s.Ratio != nil {
				ratio = fmt.Sprintf("%.2f (%.2f–%.2f)", s.Ratio.Med, s.Ratio.Min, s.Ratio.Max)
			}
		}
		counted := fmt.Sprintf("%.0f", s.Counted.Med)
		if s.Counted.Min != s.Counted.Max {
			counted += fmt.Sprintf(" (%.0f–%.0f)", s.Counted.Min, s.Counted.Max)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %.0f | %.0f | %s | %s | %s | %.3f | %.3f (%.3f–%.3f) | %s | %.3f | %.0f | %s |\n",
			pipeNames[s.Pipeline], s.Mode, floodText(s.Rate), s.Runs, s.Sent.Med, s.Delivered.Med, counted, unacc,
			reader, s.TelegrafUS.Med, s.SumUS.Med, s.SumUS.Min, s.SumUS.Max, ratio, s.SumDelivUS.Med, s.RateKpps.Med, zeroLossText(s.ZeroLoss))
	}
	fmt.Fprintln(w)
	r.writeDatabase(w)
	fmt.Fprintln(w, "| target | result | detail |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.Name, t.Result, t.Detail)
	}
	fmt.Fprintln(w)
	var steps []string
	for _, s := range r.Summaries {
		if s.ZeroLoss == nil || len(s.ZeroLoss.Steps) == 0 {
			continue
		}
		var st []string
		for i, x := range s.ZeroLoss.Steps {
			res := "lost"
			if x.Pass {
				res = "ok"
			}
			if i < len(s.ZeroLoss.Trials) && s.ZeroLoss.Trials[i].Err != "" {
				res = "error"
			} else if !x.Pass && i < len(s.ZeroLoss.Trials) && s.ZeroLoss.Trials[i].Account.lossFree() {
				res = fmt.Sprintf("late %.1fs", s.ZeroLoss.Trials[i].LagS)
			}
			st = append(st, fmt.Sprintf("%.0fk %s", x.Rate/1000, res))
		}
		steps = append(steps, fmt.Sprintf("- %s, %s: %s", pipeNames[s.Pipeline], s.Mode, strings.Join(st, ", ")))
	}
	if len(steps) > 0 {
		fmt.Fprintln(w, "Zero-loss bisection (paced floods; \"late\": nothing lost but not all written within -max-lag):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.Join(steps, "\n"))
		fmt.Fprintln(w)
	}
	for _, s := range r.Summaries {
		for _, e := range s.Errors {
			fmt.Fprintf(w, "- error, %s %s: %s\n", pipeNames[s.Pipeline], s.Mode, e)
		}
	}
}

// writeDatabase writes the -influxdb leg's table: the database's share of
// the sum above, and what reached it.
func (r *report) writeDatabase(w io.Writer) {
	if !slices.ContainsFunc(r.Summaries, func(s summary) bool { return s.DatabaseUS != nil }) {
		return
	}
	fmt.Fprintln(w, "InfluxDB (in the sum above): its CPU, what Telegraf's outputs.influxdb wrote and dropped, and the points stored (`SELECT count(len)`, per-packet mode; points of one series with the same timestamp are stored as one):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| pipeline | mode | flood | influxd µs/pkt (min–max) | written | dropped | stored |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, s := range r.Summaries {
		if s.DatabaseUS == nil {
			continue
		}
		stored := "—"
		if s.DBStored != nil {
			stored = fmt.Sprintf("%.0f", s.DBStored.Med)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.3f (%.3f–%.3f) | %.0f | %.0f | %s |\n", pipeNames[s.Pipeline], s.Mode, floodText(s.Rate),
			s.DatabaseUS.Med, s.DatabaseUS.Min, s.DatabaseUS.Max, s.DBWritten.Med, s.DBDropped.Med, stored)
	}
	fmt.Fprintln(w)
}

func floodText(rate float64) string {
	if rate == 0 {
		return "full"
	}
	return fmt.Sprintf("paced %.0fk/s", rate/1000)
}

func zeroLossText(z *zeroLoss) string {
	switch {
	case z == nil:
		return "—"
	case z.FullPass:
		return fmt.Sprintf("≥ %.0f (full rate)", z.FullKpps)
	case len(z.Steps) == 0:
		return fmt.Sprintf("< %.0f (not bisected)", z.FullKpps)
	case z.LoKpps == 0:
		return fmt.Sprintf("< %.0f", z.HiKpps)
	}
	return fmt.Sprintf("%.0f (< %.0f)", z.LoKpps, z.HiKpps)
}

func settingsLine(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown tree"
	}
	return strings.TrimSpace(string(out))
}
