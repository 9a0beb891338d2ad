package main

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"egress.io/egress/internal/netnstest"
)

// egressInit is the real egress-init binary, built once for the namespace tests (empty under -short).
var egressInit string

func TestMain(m *testing.M) {
	netnstest.Main(nil)
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	binary, remove, err := netnstest.BuildBinary("egress.io/egress/cmd/egress-init")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: building egress-init for the namespace tests: %v\n", err)
		os.Exit(1)
	}
	egressInit = binary
	code := m.Run()
	remove()
	os.Exit(code)
}
