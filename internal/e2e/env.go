package e2e

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"egress.io/egress/internal/cluster"
)

// The world's names: api.example.test is the third-party API the app calls; other.example.test a second
// site nobody allows.
const (
	APIHost   = "api.example.test"
	OtherHost = "other.example.test"
)

// Env is the product installed on a running node.
type Env struct {
	Cluster *cluster.Cluster
	// Applied is what `kubectl apply -k` printed; OverlayDir holds the kustomization.
	Applied, OverlayDir string
	// Timings of the steps, for the test's log and the demo.
	NodeReady, ImagesReady, Installed time.Duration
}

// Options configure Setup.
type Options struct {
	// Cluster are the node's options (the world's names are set here).
	Cluster cluster.Options
	// Progress receives one line per step.
	Progress io.Writer
}

// Setup starts a node, builds and imports the images and installs the product. On error, what it started is
// stopped.
func Setup(ctx context.Context, opts Options) (_ *Env, err error) {
	begin := time.Now()
	opts.Cluster.WorldNames = []string{APIHost, OtherHost}
	if opts.Cluster.Progress == nil {
		opts.Cluster.Progress = opts.Progress
	}
	c, err := cluster.Start(opts.Cluster)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && !opts.Cluster.Detached {
			_ = c.Stop()
		}
	}()
	e := &Env{Cluster: c, NodeReady: time.Since(begin)}
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	dir := filepath.Join(c.Dir, "product")
	paths, err := BuildImages(filepath.Join(dir, "images"), c.WorldCA)
	if err != nil {
		return nil, err
	}
	if err := c.ImportImages(ctx, paths...); err != nil {
		return nil, err
	}
	e.ImagesReady = time.Since(begin)
	say("images: built and imported %d image tarballs after %v", len(paths), e.ImagesReady.Round(100*time.Millisecond))
	e.OverlayDir = filepath.Join(dir, "overlay")
	if e.Applied, err = Install(ctx, c, e.OverlayDir); err != nil {
		return nil, err
	}
	e.Installed = time.Since(begin)
	say("product: webhook Deployment available after %v", e.Installed.Round(100*time.Millisecond))
	return e, nil
}
