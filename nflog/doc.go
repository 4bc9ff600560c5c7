// Package nflog reads packets logged by netfilter's NFLOG target (iptables
// -j NFLOG --nflog-group N, nft log group N) from the kernel, in pure Go on
// github.com/mdlayher/netlink, or from a capture file (tcpdump -i nflog:N
// -w FILE). Nothing is dropped silently: overruns, sequence gaps and decode
// errors are counted in Stats. It is the Go counterpart of Python's nflogr:
//
//	nflogr             Reader              nflogr       Reader
//	open(group)        Open, OpenGroups    close()      Close, Shutdown
//	queue(wait)        Queue               getfd()      Fd
//	next(wait=True)    Next                getgroup()   Group, Groups
//	next(wait=False)   TryNext             rcvbuf       [Set]ReadBufferSize
//	loop(cb, count)    Loop                drops        Drops, ResetDrops
//	for data in nflog  All                 queued       Queued
//	dict(data)         Packet.Map
package nflog
