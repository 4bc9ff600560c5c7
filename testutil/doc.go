// Package testutil holds helpers for tests that exercise the real Linux
// kernel: network namespaces, netfilter rules (iptables, ip6tables, nft),
// and bounded test traffic.
//
// Kernel tests need root and a few command-line tools. Outside CI a missing
// prerequisite skips the test, so "go test ./..." stays usable on a developer
// laptop; with CI=true it fails instead, because a CI job that silently skips
// every kernel test proves nothing. See [RequireRoot] and [RequireTools].
//
// Safety rules the helpers enforce:
//
//   - Traffic is only ever sent from inside a namespace created by
//     [NewNetNS]. A fresh namespace contains nothing but its own loopback
//     device and the veth pairs a test adds with [NetNS.AddVeth] (whose other
//     end lives in another test namespace), so nothing can leave the machine.
//     On top of that, every IP destination is checked: it must be a loopback
//     address or lie inside a subnet configured on an interface of the
//     sending namespace.
//   - Every traffic loop is bounded both in count and in time.
//   - Everything a helper creates (namespaces, file descriptors, sockets,
//     links) is removed through tb.Cleanup.
package testutil
