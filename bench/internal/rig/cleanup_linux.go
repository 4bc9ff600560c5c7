//go:build linux

package rig

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Cleanups is the registry of what a trial in progress must undo if the
// harness is interrupted: it kills only the children it started, by pid,
// and deletes only the namespaces it created.
type Cleanups struct {
	mu  sync.Mutex
	fns map[int]func()
	n   int
}

// Cleanup is the process-wide registry.
var Cleanup = &Cleanups{fns: map[int]func(){}}

// Add registers fn and returns the function that unregisters it (once the
// trial undid it itself).
func (c *Cleanups) Add(fn func()) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	id := c.n
	c.fns[id] = fn
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.fns, id)
	}
}

// RunAll runs every registered function, newest first: processes before
// the namespaces they run in.
func (c *Cleanups) RunAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := c.n; id > 0; id-- {
		if fn, ok := c.fns[id]; ok {
			fn()
			delete(c.fns, id)
		}
	}
}

// StopOnSignal makes SIGINT/SIGTERM run Cleanup before exiting with 130;
// name prefixes the message.
func StopOnSignal(name string) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-c
		fmt.Fprintf(os.Stderr, "%s: %v: cleaning up\n", name, s)
		Cleanup.RunAll()
		os.Exit(130)
	}()
}
