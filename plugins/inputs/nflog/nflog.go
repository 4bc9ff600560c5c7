//go:generate ../../../tools/readme_config_includer/generator
//go:build linux

package nflog

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/selfstat"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// The plugin's files: this one holds the lifecycle (Init, Start, Gather,
// Stop); config.go validates the options, read.go opens the source and runs
// the reading goroutine, builder.go makes each packet's tags (tags.go) and
// feeds the metric kinds, siblings: packets.go (a metric per packet, made
// from templates.go, timed by uniquetimes.go and limited by ratelimit.go),
// counters.go, and rankings.go (the top talkers of nflog_top, their keys in
// rankkey.go, counted by the spacesaving package); metrickinds.go reads the
// "metrics" option and netmask.go masks addresses into networks;
// lasthit.go is the kinds' one-entry cache, stats.go makes nflog_stats,
// and errors.go rate-limits read errors.

//go:embed sample.conf
var sampleConfig string

// NFLOG reads packets logged by netfilter's NFLOG target and emits a metric
// per packet, running counters per tag set, rankings of the top talkers, or
// any of them together.
type NFLOG struct {
	Groups            []int           `toml:"groups"`
	CopyMode          string          `toml:"copy_mode"`
	CopyRange         Size            `toml:"copy_range"`
	FlushTimeout      config.Duration `toml:"flush_timeout"`
	QueueThreshold    int64           `toml:"queue_threshold"`
	ReadBufferSize    Size            `toml:"read_buffer_size"`
	MaxReadBufferSize Size            `toml:"max_read_buffer_size"`
	NetlinkBufferSize Size            `toml:"netlink_buffer_size"`
	OnOverrun         string          `toml:"on_overrun"`
	Sequence          string          `toml:"sequence"`
	ReadMode          string          `toml:"read_mode"`
	Netns             string          `toml:"netns"`
	Metrics           string          `toml:"metrics"`
	MaxCounterSeries  int             `toml:"max_counter_series"`
	ExtraTags         []string        `toml:"extra_tags"`
	ExtraFields       []string        `toml:"extra_fields"`
	PrefixPattern     string          `toml:"prefix_pattern"`
	IPv4Mask          int             `toml:"ipv4_mask"`
	IPv6Mask          int             `toml:"ipv6_mask"`
	Top               []rankingConfig `toml:"top"`

	PacketMetricsPerSecond int `toml:"packet_metrics_per_second"`

	Log        telegraf.Logger     `toml:"-"`
	Statistics *selfstat.Collector `toml:"-"`

	// Set by Init.
	cfg       nflog.Config
	netnsPath string
	build     *builder
	statsTags map[string]string
	// replayGroups gives the group tag on replay; nil otherwise.
	replayGroups *replayGroups
	stats        pluginStats
	errs         errorLimiter

	// replay is the capture file to read instead of the kernel ("-" is
	// standard input); set by ReplayFile before Init.
	replay string
	// open is the source of packets; tests replace it.
	open func() (*nflog.Reader, error)

	// Set by Start, released by Stop.
	reader   *nflog.Reader
	netnsFD  *os.File
	cancel   context.CancelFunc
	done     chan struct{}
	wg       sync.WaitGroup
	stopping atomic.Bool
	acc      telegraf.Accumulator // for the final drain in Stop
	growths  uint64               // buffer growths already logged
	trace    bool
	readErr  atomic.Pointer[error]
}

func (*NFLOG) SampleConfig() string {
	return sampleConfig
}

// ReplayFile makes the plugin read a capture file written by
// "tcpdump -i nflog:N -w FILE" instead of the kernel; "-" reads standard
// input. It must be called before Init; the "groups" and socket options are
// then ignored. When the file ends the reader stops and Done is closed.
// It exists for the execd binary's -pcap flag.
func (n *NFLOG) ReplayFile(path string) {
	n.replay = path
}

// Done returns a channel that is closed when the reading goroutine started
// by Start has ended: at the end of a replayed file, after Stop, or after a
// read error that the reader cannot recover from (see Err). It is nil
// before Start.
func (n *NFLOG) Done() <-chan struct{} {
	return n.done
}

// Err returns the error that ended reading, or nil when reading ended
// because of Stop or the end of a replayed file.
func (n *NFLOG) Err() error {
	if p := n.readErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (n *NFLOG) Init() error {
	if n.Statistics == nil {
		// Telegraf and the loaders inject it; a plugin built by hand
		// still works.
		n.Statistics = selfstat.NewCollector(nil)
	}
	cfg, err := n.readerConfig()
	if err != nil {
		return err
	}
	n.cfg = cfg

	b, err := n.newBuilder()
	if err != nil {
		return err
	}
	n.build = b

	switch {
	case n.open != nil:
		// A test's source.
	case n.replay != "":
		n.open = n.openFile
	default:
		n.open = n.openSocket
	}

	n.statsTags = nil
	if len(n.Groups) > 0 && n.replay == "" {
		n.statsTags = map[string]string{"group": joinInts(n.Groups)}
	}
	n.stats = newPluginStats(n.Statistics, n.statsTags)
	n.errs.every = time.Second
	return nil
}

// startError wraps an error of Start. In Telegraf's tree, errors that may
// clear by themselves (a group held by another program, a kernel module not
// loaded yet) would become &internal.StartupError{Err: err, Retry: true} so
// that startup_error_behavior = "retry" works; that type cannot be imported
// from outside Telegraf's module, so this copy returns plain errors.
func startError(err error) error {
	return err
}

func (n *NFLOG) Start(acc telegraf.Accumulator) error {
	r, err := n.open()
	if err != nil {
		if n.replay != "" {
			return startError(fmt.Errorf("opening capture file: %w", err))
		}
		return startError(fmt.Errorf("opening NFLOG groups %s: %w", joinInts(n.Groups), err))
	}
	n.reader = r
	n.acc = acc
	if n.build.packets != nil {
		b, borrows := acc.(metricBorrower)
		n.build.packets.borrow = borrows && b.BorrowsMetrics()
	}
	n.growths = 0 // a new reader counts from zero
	n.replayGroups = nil
	if n.replay != "" {
		n.replayGroups = newReplayGroups()
	}
	n.stopping.Store(false)
	n.readErr.Store(nil)
	n.trace = n.Log.Level().Includes(telegraf.Trace)

	if n.replay != "" {
		n.Log.Infof("Replaying capture file %q", n.replay)
	} else {
		where := ""
		if n.netnsPath != "" {
			where = fmt.Sprintf(" in network namespace %q", n.netnsPath)
		}
		granted, err := r.ReadBufferSize()
		switch {
		case err != nil:
			n.Log.Infof("Reading NFLOG groups %s%s", joinInts(n.Groups), where)
		default:
			n.Log.Infof("Reading NFLOG groups %s%s, read buffer %d bytes", joinInts(n.Groups), where, granted)
			if granted < n.cfg.ReadBufferSize {
				n.Log.Warnf("The kernel granted a read buffer of %d bytes instead of read_buffer_size = %d: "+
					"give the process CAP_NET_ADMIN or raise net.core.rmem_max", granted, n.cfg.ReadBufferSize)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.done = make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer close(n.done)
		n.read(ctx, r, acc)
	}()
	return nil
}

func (n *NFLOG) Gather(acc telegraf.Accumulator) error {
	n.errs.flush(acc)
	now := time.Now()
	if n.build != nil && n.build.counters != nil {
		n.build.counters.emit(acc, now)
	}
	if n.build != nil && n.build.rankings != nil {
		n.build.rankings.emit(acc, now)
	}
	if n.reader != nil {
		st := n.updateStats()
		n.logGrowth(st)
		tags := n.statsTags
		if n.replayGroups != nil {
			tags = n.replayGroups.tags()
		}
		st.emit(acc, tags, now)
	}
	return n.Err()
}

// stopBudget bounds Stop: Telegraf and execd expect a prompt return.
const stopBudget = 800 * time.Millisecond

// Stop ends reading without losing the packets the kernel still batches
// (up to flush_timeout's worth): it stops the reading goroutine, unbinds the
// groups so that the kernel sends its pending batch, and hands out what was
// received, all within stopBudget. Packets it cannot hand out in time are
// reported in a warning, not dropped silently.
func (n *NFLOG) Stop() {
	deadline := time.Now().Add(stopBudget)
	n.stopping.Store(true) // the callback ends Loop; the rest of its batch stays queued
	if n.cancel != nil {
		n.cancel()
	}
	if n.replay != "" && n.reader != nil {
		// A capture read ignores the context: closing it interrupts a read
		// waiting on a pipe. It has no kernel batch to wait for.
		n.reader.Close()
	}
	n.wg.Wait()
	if n.reader != nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		if err := n.reader.Shutdown(ctx); err != nil {
			n.Log.Debugf("Unbinding the groups: %v", err)
		}
		cancel()
		n.drain(deadline)
	}
	if n.netnsFD != nil {
		n.netnsFD.Close()
		n.netnsFD = nil
	}
	if n.reader != nil {
		n.updateStats()
	}
}

func joinInts(v []int) string {
	s := make([]string, 0, len(v))
	for _, i := range v {
		s = append(s, strconv.Itoa(i))
	}
	return strings.Join(s, ",")
}

// PreferBlockingReads makes "blocking" the default read_mode. A process
// of its own that does little but read, such as the execd binary, calls it
// on a new plugin before its configuration is decoded, which can still set
// read_mode.
func (n *NFLOG) PreferBlockingReads() { n.ReadMode = "blocking" }

func init() {
	inputs.Add("nflog", func() telegraf.Input {
		return &NFLOG{
			CopyMode:          "packet",
			CopyRange:         128,
			FlushTimeout:      config.Duration(100 * time.Millisecond),
			QueueThreshold:    64,
			ReadBufferSize:    8 << 20,
			MaxReadBufferSize: 64 << 20,
			NetlinkBufferSize: 64 << 10,
			OnOverrun:         "count",
			Sequence:          "group",
			ReadMode:          "netpoll",
			Metrics:           "packets",
			MaxCounterSeries:  10000,
			IPv4Mask:          24,
			IPv6Mask:          64,
		}
	})
}
