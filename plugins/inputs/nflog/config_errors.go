//go:build linux

package nflog

import (
	"errors"
	"fmt"
	"math"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// tomlKeys maps the library's Config field names, as a *nflog.ConfigError
// gives them, to the plugin's TOML keys.
var tomlKeys = map[string]string{
	"Groups":            "groups",
	"CopyMode":          "copy_mode",
	"CopyRange":         "copy_range",
	"FlushTimeout":      "flush_timeout",
	"QueueThreshold":    "queue_threshold",
	"ReadBufferSize":    "read_buffer_size",
	"MaxReadBufferSize": "max_read_buffer_size",
	"NetlinkBufferSize": "netlink_buffer_size",
	"OnOverrun":         "on_overrun",
	"Flags":             "sequence",
	"NetNS":             "netns",
	"ReadMode":          "read_mode",
}

// configError rewrites a *nflog.ConfigError in the words of telegraf.conf:
// the TOML key instead of the Go field, the library's reason unchanged.
// The result still wraps the library's error, so errors.Is(err,
// nflog.ErrInvalidConfig) holds. Other errors pass through.
func configError(err error) error {
	var ce *nflog.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	key, ok := tomlKeys[ce.Field]
	if !ok {
		return err
	}
	return &optionError{key: key, err: ce}
}

// optionError is a library ConfigError told with the plugin's TOML key.
type optionError struct {
	key string
	err *nflog.ConfigError
}

func (e *optionError) Error() string {
	ce := e.err
	switch {
	case ce.Field == "Groups" && ce.Value == nil:
		return fmt.Sprintf(`%q is required: %s, e.g. groups = [5] for iptables -j NFLOG --nflog-group 5`, e.key, ce.Reason)
	case ce.Field == "Groups":
		return fmt.Sprintf("invalid group %v in %q: %s", ce.Value, e.key, ce.Reason)
	case ce.Value == nil:
		return fmt.Sprintf("invalid %s: %s", e.key, ce.Reason)
	default:
		return fmt.Sprintf("invalid %s %v: %s", e.key, ce.Value, ce.Reason)
	}
}

func (e *optionError) Unwrap() error { return e.err }

// toUint32 converts an integer option to the library's uint32. It is not a
// range rule (those are the library's) but a type one: a negative value or
// one past 2^32-1 cannot even be handed over.
func toUint32(key string, v int64, unit string) (uint32, error) {
	if v < 0 || v > math.MaxUint32 {
		return 0, fmt.Errorf("invalid %s %d: it must be 0 to %d %s", key, v, uint32(math.MaxUint32), unit)
	}
	return uint32(v), nil
}
