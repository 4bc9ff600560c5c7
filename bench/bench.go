// Package bench holds the NFLOG flood benchmark: a packet generator
// (cmd/nflog-flood), a consumer on this module's nflog reader
// (cmd/nflog-consumer), a minimal C reader on libnetfilter_log (c/), and the
// harness that runs them side by side with tcpdump and the execd binary
// (cmd/nflog-bench). See README.md.
package bench

import _ "embed"

// CReaderSource is c/nflog_reader.c, the C baseline, which the harness
// compiles with "cc -O2 ... -lnetfilter_log" into a temporary directory.
//
//go:embed c/nflog_reader.c
var CReaderSource []byte
