// Command telegraf-nflog runs the nflog input plugin outside Telegraf, for
// Telegraf's inputs.execd (or any program that reads line protocol or JSON
// lines from a child's standard output).
//
//	telegraf-nflog -config /etc/telegraf-nflog/plugin.conf
//
// It reads the plugin's configuration (one [[inputs.nflog]] table, see
// sample.conf), writes a metric per logged packet to standard output as
// InfluxDB line protocol (or JSON with -format json), and its own messages
// to standard error as "E! ", "W! ", "I! ", "D! " lines that execd logs at
// those levels. Every -poll-interval, or on every line read from standard
// input once one came (execd's signal = "STDIN"), it emits the nflog_stats
// metrics (and nflog_counters and nflog_top when "metrics" asks for them). It stops on SIGTERM, SIGINT or the end of
// standard input, and
// exits non-zero when the plugin cannot start, so that execd restarts it.
//
// With -pcap FILE it replays a capture written by "tcpdump -i nflog:N -w
// FILE" instead of reading the kernel, emits the same metrics and exits at
// the end of the file, after a last nflog_stats, nflog_counters and
// nflog_top for what the file held; with status 1, as tcpdump, when the
// file ends inside a record (the complete records are written first). This
// needs no privileges.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/models"

	_ "github.com/nflogr/telegraf-nflog/plugins/inputs/nflog"
)

const defaultConfig = "/etc/telegraf-nflog/plugin.conf"

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build information is used.
var version = ""

// The plugin's extra methods, reached through interfaces so that the binary
// also builds where the plugin is a stub.
type (
	replayer interface{ ReplayFile(path string) }
	finisher interface {
		Done() <-chan struct{}
		Err() error
	}
)

type options struct {
	config       string
	configSet    bool
	pollInterval time.Duration
	format       string
	pcap         string
	logLevel     string
	version      bool

	// newTicker makes the -poll-interval ticker; nil for a real one.
	// Tests pass a channel of their own.
	newTicker func(time.Duration) (<-chan time.Time, func())
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(&options{}, args, stdin, stdout, stderr)
}

// aliases are the underscore spellings of flags, accepted as Telegraf's
// shim spells them (-poll_interval, -poll_interval_disabled) and as this
// binary did before every flag was kebab-case, but not shown by -help.
var aliases = map[string]string{
	"poll_interval":          "poll-interval",
	"poll_interval_disabled": "poll-interval-disabled",
	"log_level":              "log-level",
}

func runWith(o *options, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("telegraf-nflog", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", defaultConfig, "plugin configuration file: one [[inputs.nflog]] table")
	fs.DurationVar(&o.pollInterval, "poll-interval", 10*time.Second,
		"how often to emit the nflog_stats, nflog_counters and nflog_top metrics (0: only when a line arrives on stdin; "+
			"after the first line on stdin, as execd's signal = \"STDIN\" sends, only then)")
	var pollDisabled bool
	fs.BoolVar(&pollDisabled, "poll-interval-disabled", false, "emit the statistics only when a line arrives on stdin (as -poll-interval 0)")
	fs.StringVar(&o.format, "format", "influx", `output format: "influx" (line protocol) or "json" (JSON lines)`)
	fs.StringVar(&o.pcap, "pcap", "", `replay this capture of "tcpdump -i nflog:N -w FILE" ("-": standard input) instead of reading the kernel, then exit`)
	fs.StringVar(&o.logLevel, "log-level", "info", `lowest level of messages on stderr: "error", "warn", "info", "debug" or "trace"`)
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	for alias, name := range aliases {
		f := fs.Lookup(name)
		fs.Var(f.Value, alias, f.Usage)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: telegraf-nflog [flags]\n\n"+
			"Reads packets logged by netfilter's NFLOG target and writes metrics to stdout,\n"+
			"for Telegraf's [[inputs.execd]]. Flags:\n\n")
		shown := flag.NewFlagSet("", flag.ContinueOnError)
		shown.SetOutput(fs.Output())
		fs.VisitAll(func(f *flag.Flag) {
			if _, alias := aliases[f.Name]; !alias {
				shown.Var(f.Value, f.Name, f.Usage)
			}
		})
		shown.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "E! Unexpected argument %q; see -help\n", fs.Arg(0))
		return 2
	}
	if pollDisabled {
		o.pollInterval = 0
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			o.configSet = true
		}
	})
	if o.version {
		fmt.Fprintln(stdout, versionString())
		return 0
	}

	level := telegraf.LogLevelFromString(o.logLevel)
	if level == telegraf.None {
		fmt.Fprintf(stderr, "E! Invalid -log-level %q: use error, warn, info, debug or trace\n", o.logLevel)
		return 2
	}
	log := newLineLogger(stderr, level, "inputs.nflog")
	// First of all, before anything can log through Telegraf's logger.
	if err := setupTelegrafLogging(log); err != nil {
		log.Errorf("Setting up logging: %v", err)
		return 1
	}
	if o.format != "influx" && o.format != "json" {
		log.Errorf(`Invalid -format %q: use "influx" or "json"`, o.format)
		return 2
	}
	if o.pollInterval < 0 {
		log.Errorf("Invalid -poll-interval %v: use a positive duration, or 0 to emit only on a line on stdin", o.pollInterval)
		return 2
	}

	input, err := newInput(o, log)
	if err != nil {
		log.Errorf("Exiting: %v", err)
		return 1
	}

	if err := runStream(input, o, log, stdin, stdout); err != nil {
		log.Errorf("Exiting: %v", err)
		return 1
	}
	if f, ok := input.(finisher); ok && f.Err() != nil {
		log.Errorf("Exiting after a read error: %v", f.Err())
		return 1
	}
	return 0
}

// newInput loads, wires and initialises the plugin: the logger and
// statistics are injected before Init (shim.AddInput would replace the
// logger and call Init itself).
func newInput(o *options, log *lineLogger) (telegraf.Input, error) {
	path := o.config
	if o.pcap != "" && !o.configSet {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			path = "" // replaying needs no configuration
		}
	}
	input, err := loadPlugin(path)
	if err != nil {
		return nil, fmt.Errorf("loading the configuration: %w", err)
	}
	models.SetLoggerOnPlugin(input, log)
	models.SetStatisticsOnPlugin(input, log, map[string]string{"input": pluginName})
	if o.pcap != "" {
		r, ok := input.(replayer)
		if !ok {
			return nil, errors.New("replaying a capture is not supported on this platform")
		}
		r.ReplayFile(o.pcap)
	}
	if p, ok := input.(telegraf.Initializer); ok {
		if err := p.Init(); err != nil {
			return nil, fmt.Errorf("invalid configuration in %s: %w", path, err)
		}
	}
	return input, nil
}

func versionString() string {
	v, tv := version, "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, dep := range info.Deps {
			if dep.Path == "github.com/influxdata/telegraf" {
				tv = dep.Version
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("telegraf-nflog %s (telegraf %s)", v, tv)
}
