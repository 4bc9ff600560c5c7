// Package nflog reads packets logged by netfilter's NFLOG target (iptables
// -j NFLOG --nflog-group N, nftables log group N) from the kernel, in pure Go
// on github.com/mdlayher/netlink. It is the Go counterpart of the Python
// extension nflogr.
//
// # Opening
//
// Open binds a group (OpenGroups several on one socket) with the options of
// Config: flush timeout, queue threshold, socket and kernel buffer sizes, copy
// mode and range, sequence and conntrack flags, network namespace, and what
// to do when the socket buffer overflows. The process needs CAP_NET_ADMIN.
// OpenFile reads a capture made with tcpdump -i nflog:N -w FILE through the
// same API, without privileges.
//
// # Reading
//
// Next blocks for the next packet (honouring a context), TryNext does not
// block, Queue receives what the socket holds into the reader's queue, Loop
// hands packets to a callback without allocating, and All is a range-over-func
// iterator. A Reader is safe for concurrent use; Close unblocks every reader.
//
// # Losses
//
// Nothing is dropped silently: overruns of the socket buffer (ENOBUFS),
// messages missing from the sequence numbers (FlagSequence) and messages
// that fail to decode are counted in Stats, and decode errors are returned
// in the place of the message they replace.
package nflog
