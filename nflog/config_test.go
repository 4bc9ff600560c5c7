package nflog

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every rule of Validate: the error wraps ErrInvalidConfig, is a
// *ConfigError naming the Config field and the value given, and its text
// names the option and what is allowed.
func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name   string
		groups []int
		cfg    Config
		want   string // in the error text
		field  string
		value  any
		reason string // in Reason: the allowed range or what to do
	}{
		{"no group", nil, Config{}, "no group", "Groups", nil, "at least one NFLOG group (0-65535)"},
		{"negative group", []int{-1}, Config{}, "group -1 is out of range", "Groups", -1, "0-65535"},
		{"group too large", []int{65536}, Config{}, "group 65536 is out of range", "Groups", 65536, "0-65535"},
		{"duplicate group", []int{3, 3}, Config{}, "listed twice", "Groups", 3, "listed twice"},
		{"negative timeout", []int{1}, Config{FlushTimeout: -time.Second}, "flush timeout", "FlushTimeout", -time.Second, "0-11930h27m52.95s"},
		{"timeout too large", []int{1}, Config{FlushTimeout: MaxFlushTimeout + 10*time.Millisecond}, "flush timeout", "FlushTimeout", MaxFlushTimeout + 10*time.Millisecond, "0-11930h27m52.95s"},
		{"rcvbuf too large", []int{1}, Config{ReadBufferSize: 1 << 30}, "read buffer size", "ReadBufferSize", 1 << 30, "0-1073741823 bytes"},
		{"max rcvbuf too large", []int{1}, Config{MaxReadBufferSize: 1 << 30}, "maximum read buffer size 1073741824 is out of range", "MaxReadBufferSize", 1 << 30, "0-1073741823 bytes"},
		{"max rcvbuf below rcvbuf", []int{1}, Config{ReadBufferSize: 8192, MaxReadBufferSize: 4096}, "maximum read buffer size 4096 is smaller than the read buffer size (8192 bytes)", "MaxReadBufferSize", 4096, "use 0 to never grow"},
		{"nlbuf below page", []int{1}, Config{NetlinkBufferSize: 100}, "netlink buffer size 100", "NetlinkBufferSize", uint32(100), "4096-131072 bytes"},
		{"nlbuf too large", []int{1}, Config{NetlinkBufferSize: 131073}, "netlink buffer size 131073", "NetlinkBufferSize", uint32(131073), "4096-131072 bytes"},
		{"copy range", []int{1}, Config{CopyRange: 65532}, "copy range 65532", "CopyRange", uint32(65532), "0-65531 bytes"},
		{"copy mode", []int{1}, Config{CopyMode: 9}, "copy mode 9 is unknown", "CopyMode", CopyMode(9), "CopyPacket, CopyMeta or CopyNone"},
		{"flags", []int{1}, Config{Flags: 0x8}, "unknown bits", "Flags", Flags(0x8), "FlagSequence, FlagGlobalSequence, FlagConntrack"},
		{"flags with known bits", []int{1}, Config{Flags: 0x9}, "flags 0x9 is invalid, it holds unknown bits 0x8", "Flags", Flags(0x9), "FlagSequence, FlagGlobalSequence, FlagConntrack"},
		{"overrun", []int{1}, Config{OnOverrun: 7}, "overrun policy 7 is unknown", "OnOverrun", OverrunPolicy(7), "OverrunError, OverrunCount or OverrunIgnore"},
		{"read mode", []int{1}, Config{ReadMode: 2}, "read mode 2 is unknown", "ReadMode", ReadMode(2), "ReadNetpoll or ReadBlocking"},
		{"netns", []int{1}, Config{NetNS: -1}, "network namespace fd -1 is negative", "NetNS", -1, "0 for the caller's"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate(c.groups)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, c.want)
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "%T is not a *ConfigError", err)
			require.Equal(t, c.field, ce.Field)
			require.Equal(t, c.value, ce.Value)
			require.Contains(t, ce.Reason, c.reason)
			require.NotContains(t, ce.Reason, c.field, "Reason leaves the field's name to the caller, who may spell it differently")
		})
	}
	ok := Config{FlushTimeout: MaxFlushTimeout, ReadBufferSize: MaxReadBufferSize, NetlinkBufferSize: 131072, CopyRange: MaxCopyRange, Flags: 7}
	require.NoError(t, ok.Validate([]int{0, 65535}))
	grow := Config{ReadBufferSize: 4096, MaxReadBufferSize: 4096}
	require.NoError(t, grow.Validate([]int{1}), "a maximum equal to the size is no growth, not an error")
}

// SetReadBufferSize checks its argument as Validate checks the option.
func TestSetReadBufferSizeValidates(t *testing.T) {
	r, _ := newFakeReader(t, Config{})
	for _, size := range []int{0, -1, MaxReadBufferSize + 1} {
		_, err := r.SetReadBufferSize(size)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, "size %d", size)
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.Equal(t, "ReadBufferSize", ce.Field)
		require.Equal(t, size, ce.Value)
		require.ErrorContains(t, err, "read buffer size")
		require.Contains(t, ce.Reason, "1-1073741823 bytes")
	}
	_, err := r.SetReadBufferSize(1 << 20)
	require.ErrorIs(t, err, ErrNotSupported, "a valid size reaches the source, which has no socket")
}

func TestTimeoutTicks(t *testing.T) {
	for d, want := range map[time.Duration]uint32{0: 0, time.Millisecond: 1, 10 * time.Millisecond: 1, 15 * time.Millisecond: 2, time.Second: 100, MaxFlushTimeout: 4294967295} {
		c := Config{FlushTimeout: d}
		require.Equal(t, want, c.timeoutTicks(), "%v", d)
	}
}

func TestReadModeString(t *testing.T) {
	require.Equal(t, "netpoll", ReadNetpoll.String())
	require.Equal(t, "blocking", ReadBlocking.String())
	require.Equal(t, "ReadMode(2)", ReadMode(2).String())
}
