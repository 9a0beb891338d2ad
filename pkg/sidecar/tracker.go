package sidecar

import (
	"context"
	"io"
	"sync"
)

// connTracker knows the connections in progress, so that a shutdown can wait for them (drain) and then
// close what is left.
type connTracker struct {
	mu    sync.Mutex
	conns map[io.Closer]struct{}
	idle  chan struct{} // closed when conns becomes empty; replaced when it fills again
}

func newConnTracker() *connTracker {
	idle := make(chan struct{})
	close(idle)
	return &connTracker{conns: map[io.Closer]struct{}{}, idle: idle}
}

// Add starts tracking c.
func (t *connTracker) Add(c io.Closer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.conns) == 0 {
		t.idle = make(chan struct{})
	}
	t.conns[c] = struct{}{}
}

// Done stops tracking c.
func (t *connTracker) Done(c io.Closer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.conns[c]; !ok {
		return
	}
	delete(t.conns, c)
	if len(t.conns) == 0 {
		close(t.idle)
	}
}

// Len returns the number of connections tracked.
func (t *connTracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Drain waits until no connection is tracked or ctx is done, then closes those left and returns how many.
func (t *connTracker) Drain(ctx context.Context) int {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
	}
	t.mu.Lock()
	left := make([]io.Closer, 0, len(t.conns))
	for c := range t.conns {
		left = append(left, c)
	}
	t.mu.Unlock()
	for _, c := range left {
		c.Close()
	}
	return len(left)
}
