package e2e

import (
	"fmt"

	"egress.io/egress/internal/netnstest"
)

// Binaries are the product's three commands, built for the run.
type Binaries struct {
	Init, Sidecar, Webhook string
}

// BuildBinaries builds egress-init, egress-sidecar and the webhook into a directory every UID can execute
// from; remove deletes them.
func BuildBinaries() (b Binaries, remove func(), err error) {
	var removes []func()
	remove = func() {
		for _, r := range removes {
			r()
		}
	}
	for _, item := range []struct {
		dst *string
		pkg string
	}{
		{&b.Init, "egress.io/egress/cmd/egress-init"},
		{&b.Sidecar, "egress.io/egress/cmd/egress-sidecar"},
		{&b.Webhook, "egress.io/egress/cmd/webhook"},
	} {
		bin, rm, err := netnstest.BuildBinary(item.pkg)
		if err != nil {
			remove()
			return Binaries{}, nil, fmt.Errorf("building %s: %w", item.pkg, err)
		}
		*item.dst = bin
		removes = append(removes, rm)
	}
	return b, remove, nil
}
