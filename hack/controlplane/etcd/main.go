// Command etcd is etcd's server entry point, built from go.etcd.io/etcd/server/v3 (whose module has no main
// package of its own).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
