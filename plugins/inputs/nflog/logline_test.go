//go:build linux

package nflog

import (
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/testutil"
)

// TestStartErrorIsOneLine: text from the configuration in an error of
// Start is quoted, so that a newline in it cannot forge a line in
// Telegraf's log. Opening the namespace fails before any privilege is
// needed.
func TestStartErrorIsOneLine(t *testing.T) {
	const netns = "/run/netns/nflog-test-missing\nE! [inputs.nflog] forged"
	n := newPlugin(t, func(n *NFLOG) { n.Netns = netns })
	require.NoError(t, n.Init())
	var acc testutil.Accumulator
	err := n.Start(&acc)
	require.Error(t, err)
	n.Stop()
	require.False(t, strings.ContainsFunc(err.Error(), unicode.IsControl), "%q", err.Error())
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, `"/run/netns/nflog-test-missing\nE! [inputs.nflog] forged"`)
}
