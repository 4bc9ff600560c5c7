//go:build linux

package nflog

// newHostInterfaceNames resolves names in the caller's network namespace,
// for replayed captures.
func newHostInterfaceNames() (*interfaceNames, error) { return newInterfaceNames(0) }
