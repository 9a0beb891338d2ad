// Command cluster starts and stops the local single-node cluster for trying the product by hand:
//
//	cluster up     a real node (internal/cluster) with the product installed; it keeps running
//	cluster down   stops it and removes everything it made
//
// `make cluster-up` and `make cluster-down` run it as root.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"egress.io/egress/internal/cluster"
	"egress.io/egress/internal/e2e"
)

// name is the cluster's name: one hand-started cluster per machine.
const name = "up"

func main() {
	cluster.Main()
	if len(os.Args) != 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: cluster up|down")
		os.Exit(2)
	}
	var err error
	if os.Args[1] == "up" {
		err = up()
	} else {
		err = down()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func down() error {
	c, err := cluster.Attach(name)
	if err != nil {
		// Not running: still remove whatever a dead one left.
		fmt.Fprintln(os.Stderr, err)
		return cluster.Sweep()
	}
	if err := c.Stop(); err != nil {
		return err
	}
	fmt.Println("cluster stopped; namespaces, cgroups and state removed")
	return nil
}

func up() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := e2e.Setup(ctx, e2e.Options{
		Cluster:  cluster.Options{Name: name, Detached: true},
		Progress: os.Stderr,
	})
	if err != nil {
		return err
	}
	c := env.Cluster
	fmt.Printf(`
A node is running with the product installed (webhook in namespace %s); state in %s.
It stays up until make cluster-down.

    export KUBECONFIG=%s PATH=%s:$PATH
    kubectl get pods -A
    kubectl create namespace shop && kubectl annotate namespace shop egress.io/inject=enabled

The world (198.18.0.2) serves http:// and https:// for %s and %s (CA: %s);
pods reach it, the host does not. The overlay applied: %s/kustomization.yaml
`, e2e.SystemNamespace, c.Dir, c.AdminKubeconfig(), c.Assets, e2e.APIHost, e2e.OtherHost, c.WorldCA, env.OverlayDir)
	return nil
}
