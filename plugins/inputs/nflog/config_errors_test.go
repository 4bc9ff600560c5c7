//go:build linux

package nflog

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// Every option the library can reject has a TOML key, so a new Config field
// cannot reach users as a Go name. DisableInterfaceNames is never rejected.
func TestTOMLKeysCoverConfig(t *testing.T) {
	typ := reflect.TypeOf(nflog.Config{})
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if name == "DisableInterfaceNames" {
			continue
		}
		require.Contains(t, tomlKeys, name, "nflog.Config.%s has no TOML key in tomlKeys", name)
	}
	require.Contains(t, tomlKeys, "Groups")
}

// The range rules are the library's: the plugin's error carries the
// library's ConfigError (field and reason) under the TOML key, and no Go
// field name.
func TestInitRangeErrorsComeFromLibrary(t *testing.T) {
	tests := []struct {
		mod   func(*NFLOG)
		field string
		key   string
	}{
		{func(n *NFLOG) { n.Groups = nil }, "Groups", `"groups" is required`},
		{func(n *NFLOG) { n.Groups = []int{65536} }, "Groups", `invalid group 65536 in "groups"`},
		{func(n *NFLOG) { n.Groups = []int{3, 3} }, "Groups", `invalid group 3 in "groups": listed twice`},
		{func(n *NFLOG) { n.CopyRange = 65532 }, "CopyRange", "invalid copy_range 65532: out of range 0-65531"},
		{func(n *NFLOG) { n.FlushTimeout = config.Duration(nflog.MaxFlushTimeout + time.Second) }, "FlushTimeout", "invalid flush_timeout"},
		{func(n *NFLOG) { n.ReadBufferSize = 1 << 30; n.MaxReadBufferSize = 0 }, "ReadBufferSize", "invalid read_buffer_size 1073741824"},
		{func(n *NFLOG) { n.MaxReadBufferSize = 1 << 20 }, "MaxReadBufferSize", "invalid max_read_buffer_size 1048576: smaller than the read buffer size"},
		{func(n *NFLOG) { n.NetlinkBufferSize = 4095 }, "NetlinkBufferSize", "invalid netlink_buffer_size 4095"},
	}
	for _, tt := range tests {
		n := newPlugin(t, tt.mod)
		err := n.Init()
		require.Error(t, err)
		var ce *nflog.ConfigError
		require.True(t, errors.As(err, &ce), "%v: not the library's *ConfigError", err)
		require.Equal(t, tt.field, ce.Field)
		require.ErrorIs(t, err, nflog.ErrInvalidConfig)
		require.ErrorContains(t, err, tt.key)
		require.ErrorContains(t, err, ce.Reason)
		require.NotContains(t, err.Error(), tt.field+" ", "the Go field name leaked: %v", err)
	}
}

// A replay needs no groups, but the options are still checked.
func TestReplayChecksOptionsNotGroups(t *testing.T) {
	n := newPlugin(t, func(n *NFLOG) { n.Groups = nil; n.replay = "x.pcap" })
	_, err := n.readerConfig()
	require.NoError(t, err)
	n = newPlugin(t, func(n *NFLOG) { n.Groups = nil; n.replay = "x.pcap"; n.CopyRange = 65532 })
	_, err = n.readerConfig()
	require.ErrorContains(t, err, "copy_range")
}
