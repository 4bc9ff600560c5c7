//go:build linux

package nflog

// Binding and unbinding groups: NFULNL_MSG_CONFIG requests on the socket
// and the wait for the kernel's acknowledgement, which arrives in the same
// stream as the packets.

import (
	"encoding/binary"
	"errors"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// bind binds one group and configures it in a single request, so the
// kernel's defaults (1 s flush timeout, threshold 100) never apply.
func (s *socketSource) bind(group int, c *Config, pump func() error) error {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian // netfilter values are big-endian
	ae.Uint8(cfgAttrCmd, cfgCmdBind)
	mode := make([]byte, 6) // struct nfulnl_msg_config_mode {__be32 copy_range; __u8 copy_mode; __u8 _pad;}
	binary.BigEndian.PutUint32(mode, c.CopyRange)
	mode[4] = c.CopyMode.kernel()
	ae.Bytes(cfgAttrMode, mode)
	ae.Uint32(cfgAttrTimeout, c.timeoutTicks())
	ae.Uint32(cfgAttrQthresh, c.QueueThreshold)
	if c.NetlinkBufferSize != 0 {
		ae.Uint32(cfgAttrNlbufsiz, c.NetlinkBufferSize)
	}
	if c.Flags != 0 {
		ae.Uint16(cfgAttrFlags, uint16(c.Flags))
	}
	attrs, err := ae.Encode()
	if err != nil {
		return &OpError{Op: "bind", Group: group, Err: err}
	}

	err = s.configure(group, attrs, pump)
	if errors.Is(err, unix.EAGAIN) && c.Flags&FlagConntrack != 0 {
		// The kernel just loaded nf_conntrack_netlink for the conntrack flag
		// and asks for the request again.
		err = s.configure(group, attrs, pump)
	}
	if err != nil {
		return &OpError{Op: "bind", Group: group, Err: s.explainBindError(group, err, c)}
	}
	return nil
}

// unbind unbinds one group; the kernel then sends what it still holds.
func (s *socketSource) unbind(group int, pump func() error) error {
	ae := netlink.NewAttributeEncoder()
	ae.Uint8(cfgAttrCmd, cfgCmdUnbind)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	return s.configure(group, attrs, pump)
}

// configure sends one config request (NFULNL_MSG_CONFIG) for group and
// pumps the socket until the kernel's acknowledgement came, which answer
// picks out of the stream.
func (s *socketSource) configure(group int, attrs []byte, pump func() error) error {
	data := make([]byte, nfgenmsgLen, nfgenmsgLen+len(attrs))
	data[0] = unix.AF_UNSPEC
	binary.BigEndian.PutUint16(data[2:], uint16(group))
	data = append(data, attrs...)

	req, err := s.conn.Send(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(nfulnlMsgConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: data,
	})
	if err != nil {
		return err
	}
	s.req = pendingRequest{seq: req.Header.Sequence, waiting: true}
	defer func() { s.req = pendingRequest{} }()
	for s.req.waiting {
		if err := pump(); err != nil {
			return err
		}
	}
	return s.req.err
}

// pendingRequest is the config request waiting for its acknowledgement.
type pendingRequest struct {
	seq     uint32 // its netlink sequence number
	waiting bool
	err     error // the kernel's answer, once it came
}

// answer takes the acknowledgement of the pending request (an NLMSG_ERROR
// with its sequence number, errno 0 for success) out of the stream.
func (s *socketSource) answer(seq uint32, err error) bool {
	if !s.req.waiting || seq != s.req.seq {
		return false
	}
	s.req.waiting, s.req.err = false, err
	return true
}
