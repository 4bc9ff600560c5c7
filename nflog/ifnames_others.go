//go:build !linux

package nflog

// Off Linux there is no rtnetlink: interface names stay empty.

type interfaceNames struct{}

func (*interfaceNames) name(uint32) string { return "" }
func (*interfaceNames) close()             {}

// newHostInterfaceNames returns nil off Linux: names stay empty.
func newHostInterfaceNames() (*interfaceNames, error) { return nil, nil }
