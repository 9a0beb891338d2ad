package httppath

import (
	"context"
	"time"
)

// workerIdle is how long a worker without work waits for more before it exits.
const workerIdle = 10 * time.Second

// burst is a connection whose app has sent a request: serve answers it (and any that follow at once) and
// the result goes to cc.done.
type burst struct {
	ctx   context.Context
	cc    *clientConn
	serve func(context.Context, *clientConn) bool
}

// workers serve bursts on goroutines that outlive them. Serving grows a goroutine's stack (TLS, parsing)
// and waiting does not need it: an idle connection's goroutine stays small while a worker, already grown,
// serves. A goroutine per burst would pay for growing the stack on every request.
type workers struct {
	idle chan burst // unbuffered: a send succeeds only when a worker waits
}

func newWorkers() *workers { return &workers{idle: make(chan burst)} }

// run hands b to an idle worker, or starts one.
func (w *workers) run(b burst) {
	select {
	case w.idle <- b:
	default:
		go w.work(b)
	}
}

func (w *workers) work(b burst) {
	timer := time.NewTimer(workerIdle)
	defer timer.Stop()
	for {
		b.cc.done <- b.serve(b.ctx, b.cc)
		timer.Reset(workerIdle)
		select {
		case b = <-w.idle:
		case <-timer.C:
			return
		}
	}
}
