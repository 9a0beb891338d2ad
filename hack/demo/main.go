// Command demo tells the product's story on this machine, narrated: a local control plane, the manifests
// applied with kubectl, the webhook injecting a pod, that pod's egress-init and sidecar running in a network
// namespace, denied and allowed calls, live rule changes, audit mode, the pod's metrics and a dead sidecar
// failing closed. It needs root and KUBEBUILDER_ASSETS (make demo provides both checks and the binaries).
// It cleans up after itself, also on Ctrl-C.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"egress.io/egress/internal/e2e"
)

// interrupted is set by Ctrl-C; the story stops at its next step.
var interrupted atomic.Bool

func main() {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: needs root (it creates network namespaces and iptables rules): run `sudo make demo`")
		os.Exit(1)
	}
	r := &runner{out: os.Stderr}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan bool, 1)
	go func() { done <- tell(r) }()
	code := 0
	select {
	case ok := <-done:
		if !ok {
			code = 1
		}
	case sig := <-signals:
		// Stop at the next step boundary, so that whatever the current step is starting (a control plane,
		// a pod) has registered its cleanup; a second signal cleans up at once.
		fmt.Fprintf(os.Stderr, "\ndemo: %v: stopping after this step, then cleaning up (again to skip the wait)\n", sig)
		interrupted.Store(true)
		select {
		case <-done:
		case <-signals:
		case <-time.After(2 * time.Minute):
		}
		code = 130
	}
	r.cleanup()
	os.Exit(code)
}

// tell runs the story, returning false if a step failed.
func tell(r *runner) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if _, isStop := v.(stop); !isStop {
				panic(v)
			}
			ok = false
		}
	}()
	say("Building egress-init, egress-sidecar and the webhook")
	bin, remove, err := e2e.BuildBinaries()
	if err != nil {
		r.Fatalf("%v", err)
	}
	r.Cleanup(remove)
	story(r, bin)
	return !r.Failed()
}
