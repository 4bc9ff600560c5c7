package nflog

import (
	"context"
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A capture file has no socket: the socket's methods say so instead of
// failing in some other way, and Shutdown is Close.
func TestCaptureReaderHasNoSocket(t *testing.T) {
	r, err := OpenFile("testdata/lo-mixed.pcap", &FileConfig{DisableInterfaceNames: true})
	require.NoError(t, err)
	defer r.Close()

	require.Equal(t, -1, r.Fd())
	require.Zero(t, r.PortID())
	require.Nil(t, r.Groups())
	require.Equal(t, -1, r.Group())
	_, err = r.ReadBufferSize()
	require.ErrorIs(t, err, ErrNotSupported)
	_, err = r.SetReadBufferSize(1 << 20)
	require.ErrorIs(t, err, ErrNotSupported)

	_, err = r.Next(context.Background())
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()))
	_, err = r.Next(context.Background())
	require.ErrorIs(t, err, ErrClosed)
}

// A stray NLMSG_ERROR (no request of the source waits for it) is handed
// out in the stream; an acknowledgement (errno 0) is not.
func TestStrayNetlinkErrorIsHandedOut(t *testing.T) {
	nlErr := func(errno int32) []byte { // struct nlmsgerr: int error; struct nlmsghdr msg
		return binary.NativeEndian.AppendUint32(make([]byte, 0, 20), uint32(-errno))[:20]
	}
	d := appendNlmsg(nil, nlmsgError, 7, nlErr(0))
	d = appendNlmsg(d, nlmsgError, 8, nlErr(int32(syscall.EPERM)))
	d = appendNlmsg(d, nfulnlMsgPacket, 9, udpPacketBody(1, "after", 0))
	r, _ := newFakeReader(t, Config{}, d)

	_, err := r.Next(context.Background())
	var op *OpError
	require.ErrorAs(t, err, &op)
	require.Equal(t, "receive", op.Op)
	require.ErrorIs(t, err, syscall.EPERM)
	p, err := r.Next(context.Background())
	require.NoError(t, err)
	require.Equal(t, "after", p.Prefix)
}
