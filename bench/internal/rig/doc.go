// Package rig holds what the benchmark commands (nflog-bench,
// nflog-pipeline) share: the registry of what to undo on interruption,
// building this module's commands, apt-get, the network namespace with the
// NFLOG rule and its packet counter, the flood sender, and the procfs views
// (NFLOG instances, netlink sockets, a process's CPU time).
package rig
