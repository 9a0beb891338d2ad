package main

import (
	"fmt"
	"io"
	"sync"
)

// runner stands in for *testing.T so the demo can use the end-to-end helpers: Fatalf stops the story,
// Cleanup registers teardown that runs at the end, on failure and on Ctrl-C.
type runner struct {
	out      io.Writer
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	cleaned  bool
}

// stop is the panic value Fatalf uses to unwind the story.
type stop struct{}

func (r *runner) Helper() {}

func (r *runner) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	fmt.Fprintf(r.out, "demo: error: "+format+"\n", args...)
}

func (r *runner) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(stop{})
}

func (r *runner) Logf(format string, args ...any) { fmt.Fprintf(r.out, format+"\n", args...) }

func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// cleanup runs the registered teardown once, last registered first.
func (r *runner) cleanup() {
	r.mu.Lock()
	if r.cleaned {
		r.mu.Unlock()
		return
	}
	r.cleaned = true
	cleanups := r.cleanups
	r.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}
