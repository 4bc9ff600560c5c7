package nflog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/nflog"
	"github.com/nflogr/telegraf-nflog/testutil"
)

// Close loses what the kernel still holds in its batch; Shutdown unbinds
// first, so the kernel sends it, and the reader hands it out before
// ErrClosed.
func TestKernelShutdownDeliversTheLastBatch(t *testing.T) {
	for _, graceful := range []bool{false, true} {
		name := map[bool]string{false: "close", true: "shutdown"}[graceful]
		t.Run(name, func(t *testing.T) {
			ns := newNS(t)
			ns.Iptables(t, "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "11", "--nflog-threshold", "50")
			// Threshold 50 and a 60 s timeout: 5 packets stay in the kernel.
			r := openReader(t, ns, 11, nflog.Config{QueueThreshold: 50, FlushTimeout: time.Minute})
			testutil.SendUDP(t, ns, "127.0.0.1:9", []byte("held"), 5)
			requireNoPacket(t, r)
			if graceful {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				require.NoError(t, r.Shutdown(ctx))
			} else {
				require.NoError(t, r.Close())
			}
			got := 0
			for {
				_, err := r.TryNext()
				if errors.Is(err, nflog.ErrClosed) {
					break
				}
				require.NoError(t, err)
				got++
			}
			if graceful {
				require.Equal(t, 5, got, "Shutdown delivers the kernel's pending batch")
			} else {
				require.Zero(t, got, "Close drops the kernel's pending batch")
			}
			require.NotContains(t, testutil.ProcNflog(t, ns), "   11 ", "the group is unbound")
		})
	}
}

func TestDecodeExported(t *testing.T) {
	r, err := nflog.OpenFile("testdata/lo-mixed.pcap", &nflog.FileConfig{DisableInterfaceNames: true})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Next(context.Background())
	require.NoError(t, err)
	q, err := nflog.Decode(p.Raw, p.Timestamp)
	require.NoError(t, err)
	require.Equal(t, p.Prefix, q.Prefix)
	require.Equal(t, p.Payload, q.Payload)
	require.True(t, q.Has(nflog.AttrUID))
	_, err = nflog.Decode(p.Raw[:7], time.Time{})
	require.ErrorIs(t, err, nflog.ErrMalformed)
}
