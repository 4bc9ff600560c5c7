//go:build linux

package nflog

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nflogr/telegraf-nflog/nflog"
)

const (
	// An IPv6 header: a smaller copy_range cannot give the real length.
	minUsefulCopyRange = 40
)

// readerConfig converts the socket options to the library's Config and
// has the library check them: the ranges live in one place, nflog's
// Config.Validate, and configError names the TOML key of a field it
// rejects. Only what the library cannot see is checked here: the names of
// the string options and integers that do not fit the library's types.
func (n *NFLOG) readerConfig() (nflog.Config, error) {
	var cfg nflog.Config

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

	var err error
	if cfg.CopyRange, err = toUint32("copy_range", int64(n.CopyRange), "bytes"); err != nil {
		return cfg, err
	}
	if cfg.CopyMode == nflog.CopyPacket && n.CopyRange > 0 && n.CopyRange < minUsefulCopyRange {
		n.Log.Warnf("copy_range %d is smaller than an IPv6 header (%d bytes): the \"len\" field falls back to the copied length when the IP header is cut",
			n.CopyRange, minUsefulCopyRange)
	}
	cfg.FlushTimeout = time.Duration(n.FlushTimeout)
	if cfg.QueueThreshold, err = toUint32("queue_threshold", n.QueueThreshold, "packets"); err != nil {
		return cfg, err
	}
	cfg.ReadBufferSize = int(n.ReadBufferSize)
	cfg.MaxReadBufferSize = int(n.MaxReadBufferSize)
	if cfg.NetlinkBufferSize, err = toUint32("netlink_buffer_size", int64(n.NetlinkBufferSize), "bytes"); err != nil {
		return cfg, err
	}

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

	switch n.ReadMode {
	case "", "netpoll":
		cfg.ReadMode = nflog.ReadNetpoll
	case "blocking":
		cfg.ReadMode = nflog.ReadBlocking
	default:
		return cfg, fmt.Errorf(`invalid read_mode %q: use "netpoll" or "blocking"`, n.ReadMode)
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

	groups := n.Groups
	if n.replay != "" {
		// A replay reads a file, not a group: the options are still
		// checked (the same telegraf.conf later reads the socket), the
		// groups are not needed.
		groups = []int{0}
	}
	if err := cfg.Validate(groups); err != nil {
		return cfg, configError(err)
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

// newBuilder validates the metric options and makes the builder of the
// metric kinds they enable.
func (n *NFLOG) newBuilder() (*builder, error) {
	b := newBuilder()

	kinds, err := parseMetricKinds(n.Metrics)
	if err != nil {
		return nil, err
	}
	if kinds.counters {
		if n.MaxCounterSeries < 1 {
			return nil, fmt.Errorf("invalid max_counter_series %d: use a positive number of tag sets", n.MaxCounterSeries)
		}
		b.counters = newCounterSet(n.MaxCounterSeries)
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
	var fields extraFields
	for _, name := range n.ExtraFields {
		bit, ok := extraFieldNames[name]
		if !ok {
			return nil, fmt.Errorf("invalid field %q in extra_fields: use any of %s", name, quotedList(extraFieldNames))
		}
		fields |= bit
	}
	if fields&(fieldSeq|fieldSeqGlobal) != 0 && n.Sequence == "none" {
		return nil, errors.New(`extra_fields "seq" and "seq_global" need sequence numbers: set sequence = "group" or "global"`)
	}
	if fields&fieldSeqGlobal != 0 && n.Sequence != "global" {
		return nil, errors.New(`extra field "seq_global" needs sequence = "global"`)
	}
	if err := n.checkMetaMode(); err != nil {
		return nil, err
	}
	if kinds.packets {
		b.packets = newPacketMetrics(fields)
	}

	if n.PrefixPattern != "" {
		re, err := compilePrefixPattern(n.PrefixPattern)
		if err != nil {
			return nil, err
		}
		b.prefixRE = re
		b.prefixNames = re.SubexpNames()
	}
	if b.rankings, err = newRankings(kinds.top, n.Top, b); err != nil {
		return nil, err
	}
	return b, nil
}

// payloadTags and payloadFields are the extra tags and fields read from
// the packet's headers; ranking key parts of valuePartNames are too.
var (
	payloadTags   = []string{"ip_proto", "src_net", "dst_net"}
	payloadFields = []string{"src", "dst", "sport", "dport", "icmp_type", "icmp_code", "ttl"}
)

// checkMetaMode refuses options that can never have a value with
// copy_mode = "meta": the kernel then sends no packet contents, so there
// are no addresses, ports or protocol to read, and the tags, fields or
// ranking parts asked for would be silently missing (the rankings all
// "none").
func (n *NFLOG) checkMetaMode() error {
	if n.CopyMode != "meta" {
		return nil
	}
	var asked []string
	for _, name := range n.ExtraTags {
		if slices.Contains(payloadTags, name) {
			asked = append(asked, fmt.Sprintf("extra_tags %q", name))
		}
	}
	for _, name := range n.ExtraFields {
		if slices.Contains(payloadFields, name) {
			asked = append(asked, fmt.Sprintf("extra_fields %q", name))
		}
	}
	for _, t := range n.Top {
		for _, part := range t.Key {
			if _, ok := valuePartNames[part]; ok {
				asked = append(asked, fmt.Sprintf("key %q of ranking %q", part, t.Name))
			}
		}
	}
	if len(asked) == 0 {
		return nil
	}
	return fmt.Errorf(`copy_mode = "meta" sends no packet contents, so %s can never have a value: `+
		`use copy_mode = "packet" (copy_range = 128 covers the IP and transport headers), or remove them`,
		strings.Join(asked, ", "))
}

func quotedList[T any](m map[string]T) string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, strconv.Quote(name))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
