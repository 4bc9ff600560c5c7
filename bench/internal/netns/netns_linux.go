// Package netns runs code inside a named network namespace (a bind mount
// such as /run/netns/NAME made by "ip netns add").
package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Enter moves the calling goroutine's OS thread into the namespace at path
// and locks the goroutine to it for good. Sockets opened afterwards on this
// goroutine belong to the namespace.
func Enter(path string) error {
	runtime.LockOSThread()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering network namespace %s: %w", path, err)
	}
	return nil
}

// Thread is an OS thread parked in a namespace that runs functions for its
// owner, e.g. to read /proc/thread-self/net/* as the namespace sees it.
type Thread struct {
	reqs chan func()
}

// NewThread starts a thread in the namespace at path. Close ends it; the
// thread is then destroyed rather than returned to the Go scheduler.
func NewThread(path string) (*Thread, error) {
	t := &Thread{reqs: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		// The goroutine never unlocks: when it returns, the runtime
		// terminates the thread instead of reusing it in the namespace.
		if err := Enter(path); err != nil {
			errc <- err
			return
		}
		errc <- nil
		for fn := range t.reqs {
			fn()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return t, nil
}

// Do runs fn on the thread and waits for it.
func (t *Thread) Do(fn func()) {
	done := make(chan struct{})
	t.reqs <- func() { fn(); close(done) }
	<-done
}

// Close stops the thread.
func (t *Thread) Close() { close(t.reqs) }
