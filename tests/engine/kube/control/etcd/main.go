// Command etcd is etcd's server (go.etcd.io/etcd/server/v3/etcdmain) at the version that
// k8s.io/kubernetes pins in its go.mod, so that the control plane's module graph has one etcd.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
