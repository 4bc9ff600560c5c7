//go:build !linux

package nflog

import "fmt"

// Open is available on Linux only; elsewhere it returns ErrNotSupported.
// Capture files (OpenFile) work everywhere.
func Open(group int, cfg *Config) (*Reader, error) {
	return OpenGroups([]int{group}, cfg)
}

// OpenGroups is available on Linux only; elsewhere it returns ErrNotSupported.
func OpenGroups(groups []int, cfg *Config) (*Reader, error) {
	return nil, fmt.Errorf("nflog: %w: NFLOG is a Linux kernel facility", ErrNotSupported)
}
