// Command etcd is the etcd server for the local test clusters, built from the
// go.etcd.io/etcd/server/v3 module at the version this go.mod pins.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
