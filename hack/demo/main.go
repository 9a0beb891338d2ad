// Command demo tells the product's story on a real Kubernetes node (internal/cluster), narrated: the images
// built without Docker, the product installed with kubectl, a namespace opted in, an app deployed, denied and
// allowed calls, live rule changes, audit mode, the pod's metrics, a killed sidecar failing closed and
// restarted by the kubelet, a Job that completes, and, last, the observe-then-enforce loop with kubectl egress
// (suggest, apply, enforce, why, status). It needs root and EGRESS_NODE_ASSETS (make demo
// provides both). It cleans up after itself, also on Ctrl-C.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"egress.io/egress/internal/cluster"
)

func main() {
	cluster.Main() // the node's agent re-executes this binary
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: needs root (a real node: namespaces, cgroups, mounts): run `sudo make demo`")
		os.Exit(1)
	}
	d := &demo{}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.tell() }()
	code := 0
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			code = 1
		}
	case sig := <-signals:
		fmt.Fprintf(os.Stderr, "\ndemo: %v: stopping the node\n", sig)
		code = 130
	}
	d.cleanup()
	os.Exit(code)
}
