//go:build !linux

package nflog

import (
	"context"
	"fmt"
)

// Open is available on Linux only; elsewhere it returns ErrNotSupported.
// Capture files (OpenFile) work everywhere.
func Open(group int, cfg *Config) (*Reader, error) {
	return OpenGroups([]int{group}, cfg)
}

// OpenGroups is available on Linux only; elsewhere it returns ErrNotSupported.
func OpenGroups(groups []int, cfg *Config) (*Reader, error) {
	return nil, fmt.Errorf("nflog: %w: NFLOG is a Linux kernel facility", ErrNotSupported)
}

// ReadBufferSize returns ErrNotSupported off Linux.
func (r *Reader) ReadBufferSize() (int, error) { return 0, ErrNotSupported }

// SetReadBufferSize returns ErrNotSupported off Linux.
func (r *Reader) SetReadBufferSize(int) (int, error) { return 0, ErrNotSupported }

// Fd returns -1 off Linux.
func (r *Reader) Fd() int { return -1 }

// PortID returns 0 off Linux.
func (r *Reader) PortID() uint32 { return 0 }

type interfaceNames struct{}

func (*interfaceNames) name(uint32) string { return "" }
func (*interfaceNames) close()             {}

// newHostInterfaceNames returns nil off Linux: names stay empty.
func newHostInterfaceNames() (*interfaceNames, error) { return nil, nil }

// Shutdown is Close off Linux, where only capture files can be read.
func (r *Reader) Shutdown(context.Context) error { return r.Close() }
