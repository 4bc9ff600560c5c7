package rig

import (
	"encoding/json"
	"os"
	"time"
)

// Exit is closed when a started process has been waited for: the harness's
// processes embed one, and Exited and Wait ask it without blocking or with
// a bound.
type Exit chan struct{}

// NewExit returns an open Exit; close it once the process is reaped.
func NewExit() Exit { return make(Exit) }

// Exited reports whether the process has been reaped.
func (e Exit) Exited() bool {
	select {
	case <-e:
		return true
	default:
		return false
	}
}

// Wait waits up to d for the process to be reaped and reports whether it was.
func (e Exit) Wait(d time.Duration) bool {
	select {
	case <-e:
		return true
	case <-time.After(d):
		return false
	}
}

// WriteJSON writes v, indented, to path, or to standard output when path
// is "-": the -json flag of both benchmarks.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
