//go:generate ../../../tools/readme_config_includer/generator
//go:build linux

package nflog

import (
	"context"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
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

//go:embed sample.conf
var sampleConfig string

const (
	// An IPv6 header: a smaller copy_range cannot give the real length.
	minUsefulCopyRange = 40
)

// errStopping ends Reader.Loop from the callback once Stop was called, so
// that a flood queued in the receive buffer is not processed to its end.
var errStopping = errors.New("stopping")

// NFLOG reads packets logged by netfilter's NFLOG target and emits a metric
// per packet, running counters per tag set, or both.
type NFLOG struct {
	Groups            []int           `toml:"groups"`
	CopyMode          string          `toml:"copy_mode"`
	CopyRange         config.Size     `toml:"copy_range"`
	FlushTimeout      config.Duration `toml:"flush_timeout"`
	QueueThreshold    int64           `toml:"queue_threshold"`
	ReadBufferSize    config.Size     `toml:"read_buffer_size"`
	MaxReadBufferSize config.Size     `toml:"max_read_buffer_size"`
	NetlinkBufferSize config.Size     `toml:"netlink_buffer_size"`
	OnOverrun         string          `toml:"on_overrun"`
	Sequence          string          `toml:"sequence"`
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
	stats     pluginStats
	errs      errorLimiter

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

// pluginStats are the selfstat counters, mirrored from the reader's Stats
// and the counter set.
type pluginStats struct {
	received, overruns, lost, decodeErrors, growths, counterOverflows, notEmitted selfstat.Stat
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
	n.stats = pluginStats{
		received:         n.Statistics.Register("nflog", "packets_received", n.statsTags),
		overruns:         n.Statistics.Register("nflog", "overruns", n.statsTags),
		lost:             n.Statistics.Register("nflog", "packets_lost", n.statsTags),
		decodeErrors:     n.Statistics.Register("nflog", "decode_errors", n.statsTags),
		growths:          n.Statistics.Register("nflog", "buffer_growths", n.statsTags),
		counterOverflows: n.Statistics.Register("nflog", "counter_overflows", n.statsTags),
		notEmitted:       n.Statistics.Register("nflog", "packet_metrics_not_emitted", n.statsTags),
	}
	n.errs.every = time.Second
	return nil
}

// readerConfig validates the socket options and converts them to the
// library's Config.
func (n *NFLOG) readerConfig() (nflog.Config, error) {
	var cfg nflog.Config

	if n.replay == "" {
		if len(n.Groups) == 0 {
			return cfg, errors.New(`"groups" is required: list the NFLOG groups to read, e.g. groups = [5] for iptables -j NFLOG --nflog-group 5`)
		}
		seen := make(map[int]bool, len(n.Groups))
		for _, g := range n.Groups {
			if g < 0 || g > nflog.MaxGroup {
				return cfg, fmt.Errorf("invalid group %d in \"groups\": NFLOG groups are 0-%d", g, nflog.MaxGroup)
			}
			if seen[g] {
				return cfg, fmt.Errorf("group %d is listed twice in \"groups\"", g)
			}
			seen[g] = true
		}
	}

	switch n.CopyMode {
	case "", "packet":
		cfg.CopyMode = nflog.CopyPacket
	case "meta":
		cfg.CopyMode = nflog.CopyMeta
	case "none":
		cfg.CopyMode = nflog.CopyNone
		n.Log.Warn(`copy_mode = "none": the kernel sends no messages in this mode, the plugin will produce no packets`)
	default:
		return cfg, fmt.Errorf(`invalid copy_mode %q: use "packet", "meta" or "none"`, n.CopyMode)
	}

	if n.CopyRange < 0 || n.CopyRange > nflog.MaxCopyRange {
		return cfg, fmt.Errorf("invalid copy_range %d: use 0 (the whole packet) to %d bytes", n.CopyRange, nflog.MaxCopyRange)
	}
	cfg.CopyRange = uint32(n.CopyRange)
	if cfg.CopyMode == nflog.CopyPacket && n.CopyRange > 0 && n.CopyRange < minUsefulCopyRange {
		n.Log.Warnf("copy_range %d is smaller than an IPv6 header (%d bytes): the \"len\" field falls back to the copied length when the IP header is cut",
			n.CopyRange, minUsefulCopyRange)
	}

	if n.FlushTimeout < 0 || time.Duration(n.FlushTimeout) > nflog.MaxFlushTimeout {
		return cfg, fmt.Errorf("invalid flush_timeout %v: use 0 to %v", time.Duration(n.FlushTimeout), nflog.MaxFlushTimeout)
	}
	cfg.FlushTimeout = time.Duration(n.FlushTimeout)

	if n.QueueThreshold < 0 || n.QueueThreshold > math.MaxUint32 {
		return cfg, fmt.Errorf("invalid queue_threshold %d: use 0 to %d packets", n.QueueThreshold, uint32(math.MaxUint32))
	}
	cfg.QueueThreshold = uint32(n.QueueThreshold)

	if n.ReadBufferSize < 0 || n.ReadBufferSize > nflog.MaxReadBufferSize {
		return cfg, fmt.Errorf("invalid read_buffer_size %d: use 0 (the system default) to %d bytes", n.ReadBufferSize, nflog.MaxReadBufferSize)
	}
	if n.MaxReadBufferSize < 0 || n.MaxReadBufferSize > nflog.MaxReadBufferSize {
		return cfg, fmt.Errorf("invalid max_read_buffer_size %d: use 0 (no growth) to %d bytes", n.MaxReadBufferSize, nflog.MaxReadBufferSize)
	}
	if n.MaxReadBufferSize != 0 && n.MaxReadBufferSize < n.ReadBufferSize {
		return cfg, fmt.Errorf("max_read_buffer_size (%d bytes) is smaller than read_buffer_size (%d bytes): raise it, or set it to 0 to never grow the buffer",
			n.MaxReadBufferSize, n.ReadBufferSize)
	}
	cfg.ReadBufferSize = int(n.ReadBufferSize)
	cfg.MaxReadBufferSize = int(n.MaxReadBufferSize)

	if n.NetlinkBufferSize != 0 && (n.NetlinkBufferSize < nflog.MinNetlinkBufferSize || n.NetlinkBufferSize > nflog.MaxNetlinkBufferSize) {
		return cfg, fmt.Errorf("invalid netlink_buffer_size %d: use 0 (one page) or %d to %d bytes, the kernel ignores other values",
			n.NetlinkBufferSize, nflog.MinNetlinkBufferSize, nflog.MaxNetlinkBufferSize)
	}
	cfg.NetlinkBufferSize = uint32(n.NetlinkBufferSize)

	switch n.OnOverrun {
	case "", "count":
		cfg.OnOverrun = nflog.OverrunCount
	case "error":
		cfg.OnOverrun = nflog.OverrunError
	case "ignore":
		cfg.OnOverrun = nflog.OverrunIgnore
	default:
		return cfg, fmt.Errorf(`invalid on_overrun %q: use "count", "error" or "ignore"`, n.OnOverrun)
	}

	switch n.Sequence {
	case "", "group":
		cfg.Flags = nflog.FlagSequence
	case "global":
		cfg.Flags = nflog.FlagSequence | nflog.FlagGlobalSequence
	case "none":
	default:
		return cfg, fmt.Errorf(`invalid sequence %q: use "group", "global" or "none"`, n.Sequence)
	}

	n.netnsPath = ""
	if n.Netns != "" {
		p := n.Netns
		if !strings.Contains(p, "/") {
			// A bare name, as "ip netns" lists them.
			p = filepath.Join("/run/netns", p)
		}
		if !filepath.IsAbs(p) {
			return cfg, fmt.Errorf("invalid netns %q: use a namespace name as listed by \"ip netns\" or an absolute path such as /run/netns/NAME or /proc/PID/ns/net", n.Netns)
		}
		n.netnsPath = p
	}
	return cfg, nil
}

// newBuilder validates the metric options.
func (n *NFLOG) newBuilder() (*builder, error) {
	b := newBuilder()

	kinds, err := parseMetricKinds(n.Metrics)
	if err != nil {
		return nil, err
	}
	b.packets, b.counters = kinds.packets, kinds.counters
	if b.counters {
		if n.MaxCounterSeries < 1 {
			return nil, fmt.Errorf("invalid max_counter_series %d: use a positive number of tag sets", n.MaxCounterSeries)
		}
		b.series = newCounterSet(n.MaxCounterSeries)
	}
	if b.nets, err = newNetNames(n.IPv4Mask, n.IPv6Mask); err != nil {
		return nil, err
	}
	if b.limit, err = newPacketLimiter(n.PacketMetricsPerSecond); err != nil {
		return nil, err
	}

	for _, name := range n.ExtraTags {
		bit, ok := extraTagNames[name]
		if !ok {
			return nil, fmt.Errorf("invalid tag %q in extra_tags: use any of %s", name, quotedList(extraTagNames))
		}
		b.tags |= bit
	}
	for _, name := range n.ExtraFields {
		bit, ok := extraFieldNames[name]
		if !ok {
			return nil, fmt.Errorf("invalid field %q in extra_fields: use any of %s", name, quotedList(extraFieldNames))
		}
		b.fields |= bit
	}
	if b.fields&(fieldSeq|fieldSeqGlobal) != 0 && n.Sequence == "none" {
		return nil, errors.New(`extra_fields "seq" and "seq_global" need sequence numbers: set sequence = "group" or "global"`)
	}
	if b.fields&fieldSeqGlobal != 0 && n.Sequence != "global" {
		return nil, errors.New(`extra field "seq_global" needs sequence = "global"`)
	}

	if n.PrefixPattern != "" {
		re, err := regexp.Compile(n.PrefixPattern)
		if err != nil {
			// Quoted: the regexp's error holds the pattern's text raw, and
			// a newline in it would forge a line in Telegraf's log.
			var se *syntax.Error
			if errors.As(err, &se) {
				return nil, fmt.Errorf("invalid prefix_pattern %q: %s in %q", n.PrefixPattern, se.Code, se.Expr)
			}
			return nil, fmt.Errorf("invalid prefix_pattern %q: %q", n.PrefixPattern, err.Error())
		}
		named := 0
		for _, name := range re.SubexpNames() {
			if name == "" {
				continue
			}
			if reservedTag(name) {
				return nil, fmt.Errorf("invalid prefix_pattern: group name %q is a tag of the plugin; rename the group", name)
			}
			named++
		}
		if named == 0 {
			return nil, errors.New("invalid prefix_pattern: it has no named group; each named group (?P<name>...) becomes a tag")
		}
		b.prefixRE = re
		b.prefixNames = re.SubexpNames()
	}
	if b.rankings, err = newRankings(kinds.top, n.Top, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (n *NFLOG) openSocket() (*nflog.Reader, error) {
	cfg := n.cfg
	if n.netnsPath != "" {
		f, err := os.Open(n.netnsPath)
		if err != nil {
			// Without the *PathError, which holds the path raw.
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("opening network namespace %q of netns = %q: %w (create it with \"ip netns add\" or fix the path)",
				n.netnsPath, n.Netns, err)
		}
		n.netnsFD = f
		cfg.NetNS = int(f.Fd())
	}
	r, err := nflog.OpenGroups(n.Groups, &cfg)
	if err != nil {
		if n.netnsFD != nil {
			n.netnsFD.Close()
			n.netnsFD = nil
		}
		return nil, err
	}
	return r, nil
}

func (n *NFLOG) openFile() (*nflog.Reader, error) {
	if n.replay == "-" {
		// A file of its own for standard input, which the reader closes on
		// Stop: that interrupts a read waiting on an idle pipe, where a read
		// of os.Stdin could not be interrupted and Stop would hang.
		return nflog.OpenFile("/dev/stdin", nil)
	}
	return nflog.OpenFile(n.replay, nil)
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
	b, borrows := acc.(metricBorrower)
	n.build.borrow = borrows && b.BorrowsMetrics()
	n.growths = 0 // a new reader counts from zero
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

// read is the reading goroutine: it hands every packet to the builder until
// the reader is closed, the file ends or a final error happens.
//
// The accumulator may block: in Telegraf when the outputs fall behind and
// the metric buffer is full, under execd when the pipe to Telegraf is full.
// Reading then pauses and the kernel drops what does not fit in the socket
// buffer; the drops are counted (overruns, packets_lost), which is the best
// a logger can do, as the kernel never waits for its reader.
func (n *NFLOG) read(ctx context.Context, r *nflog.Reader, acc telegraf.Accumulator) {
	handle := func(p *nflog.Packet) error {
		if n.stopping.Load() {
			return errStopping
		}
		if n.trace {
			n.Log.Tracef("Packet: group %d, family %s, hook %d, prefix %q, %d bytes of payload",
				p.Group, p.Family, p.Hook, p.Prefix, len(p.Payload))
		}
		n.build.add(acc, p)
		return nil
	}
	for {
		err := r.Loop(ctx, -1, handle)
		switch {
		case err == nil:
			continue
		case n.stopping.Load(), errors.Is(err, errStopping), errors.Is(err, nflog.ErrClosed), ctx.Err() != nil:
			return
		case errors.Is(err, io.EOF):
			n.Log.Infof("End of capture file %q", n.replay)
			return
		case nflog.IsTemporary(err):
			var de *nflog.DecodeError
			if n.trace && errors.As(err, &de) {
				n.Log.Tracef("Undecodable message: %s", hex.EncodeToString(de.Raw))
			}
			n.errs.add(acc, fmt.Errorf("reading NFLOG messages: %w", err))
		default:
			err = fmt.Errorf("reading NFLOG messages stopped: %w", err)
			n.readErr.Store(&err)
			acc.AddError(err)
			return
		}
	}
}

func (n *NFLOG) Gather(acc telegraf.Accumulator) error {
	n.errs.flush(acc)
	now := time.Now()
	if n.build != nil && n.build.series != nil {
		n.build.series.emit(acc, now)
	}
	if n.build != nil && n.build.rankings != nil {
		n.build.rankings.emit(acc, now)
	}
	if n.reader != nil {
		st := n.updateStats()
		n.logGrowth(st)
		st.emit(acc, n.statsTags, now)
	}
	return n.Err()
}

// logGrowth says once per interval in which it happened that overruns made
// the receive buffer grow, and warns when it reached max_read_buffer_size,
// after which overruns can only be counted.
func (n *NFLOG) logGrowth(st readerStats) {
	if uint64(st.growths) <= n.growths {
		return
	}
	n.growths = uint64(st.growths)
	size := st.readBufferBytes
	if max := int64(n.MaxReadBufferSize); size >= max {
		n.Log.Warnf("Overruns grew the receive buffer to %d bytes, its maximum (max_read_buffer_size): "+
			"further overruns drop messages; raise max_read_buffer_size or queue_threshold", size)
		return
	}
	n.Log.Infof("Overruns grew the receive buffer to %d bytes (up to max_read_buffer_size = %d)", size, int64(n.MaxReadBufferSize))
}

// updateStats copies the reader's counters to selfstat and returns them
// for nflog_stats.
func (n *NFLOG) updateStats() readerStats {
	st := n.reader.Stats()
	var overflows int64
	if n.build.series != nil {
		overflows = n.build.series.overflows()
	}
	s := readerStats{
		received:         int64(st.Received),
		overruns:         int64(st.Overruns),
		lost:             int64(st.Lost),
		decodeErrors:     int64(st.DecodeErrors),
		growths:          int64(st.BufferGrowths),
		counterOverflows: overflows,
		notEmitted:       n.build.limit.notEmitted(),
	}
	if size, err := n.reader.ReadBufferSize(); err == nil && n.replay == "" {
		s.readBufferBytes, s.hasReadBuffer = int64(size), true
	}
	n.stats.received.Set(s.received)
	n.stats.overruns.Set(s.overruns)
	n.stats.lost.Set(s.lost)
	n.stats.decodeErrors.Set(s.decodeErrors)
	n.stats.growths.Set(s.growths)
	n.stats.counterOverflows.Set(s.counterOverflows)
	n.stats.notEmitted.Set(s.notEmitted)
	return s
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

// drain hands out the packets the closed reader still holds, until deadline.
func (n *NFLOG) drain(deadline time.Time) {
	if n.acc == nil || n.build == nil {
		return
	}
	for time.Now().Before(deadline) {
		p, err := n.reader.TryNext()
		switch {
		case err == nil:
			n.build.add(n.acc, &p)
		case nflog.IsTemporary(err) && !errors.Is(err, nflog.ErrWouldBlock):
			continue
		default:
			return
		}
	}
	if left := n.reader.Queued(); left > 0 {
		n.Log.Warnf("Stopping: %d received packets were not handed out within %v", left, stopBudget)
	}
}

func joinInts(v []int) string {
	s := make([]string, 0, len(v))
	for _, i := range v {
		s = append(s, strconv.Itoa(i))
	}
	return strings.Join(s, ",")
}

func quotedList[T any](m map[string]T) string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, strconv.Quote(name))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

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
			Metrics:           "packets",
			MaxCounterSeries:  10000,
			IPv4Mask:          24,
			IPv6Mask:          64,
		}
	})
}
