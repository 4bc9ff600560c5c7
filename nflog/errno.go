package nflog

import "syscall"

// errnoError returns e as a syscall.Errno, or nil for 0.
func errnoError(e int32) error {
	if e == 0 {
		return nil
	}
	return syscall.Errno(e)
}
