// Command pause is the real node's pod sandbox process (containerd's sandbox_image): it holds
// the pod's namespaces, reaps the zombies of the pod's other processes and exits 0 on SIGTERM
// or SIGINT. Built statically by ../../build.sh; the cluster fixture wraps it into an image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	child := make(chan os.Signal, 16)
	signal.Notify(child, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-child:
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
