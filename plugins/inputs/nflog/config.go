//go:build linux

package nflog

import (
	"errors"
	"fmt"
	"math"
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
