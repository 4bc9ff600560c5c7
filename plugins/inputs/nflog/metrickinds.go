//go:build linux

package nflog

import (
	"fmt"
	"strings"
)

// metricKinds is the "metrics" option: which of the three kinds of metric
// the plugin produces.
type metricKinds struct {
	packets  bool // "nflog", one per packet
	counters bool // "nflog_counters", running counters per tag set
	top      bool // "nflog_top", the rankings of [[inputs.nflog.top]]
}

// parseMetricKinds reads "metrics": a comma-separated list of "packets",
// "counters" and "top", where "both" stands for "packets,counters" (the
// option's values before rankings existed). Empty means "packets".
func parseMetricKinds(s string) (metricKinds, error) {
	var k metricKinds
	if strings.TrimSpace(s) == "" {
		k.packets = true
		return k, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(part) {
		case "packets":
			k.packets = true
		case "counters":
			k.counters = true
		case "top":
			k.top = true
		case "both":
			k.packets, k.counters = true, true
		case "":
			return k, fmt.Errorf(`invalid metrics %q: an empty kind in the list; separate kinds by single commas, as in "counters,top"`, s)
		default:
			return k, fmt.Errorf(`invalid metrics %q: unknown kind %q; use a comma-separated list of "packets", "counters" and "top" (or "both" for "packets,counters")`,
				s, strings.TrimSpace(part))
		}
	}
	return k, nil
}
