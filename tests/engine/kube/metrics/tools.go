//go:build tools

// Package tools pins sigs.k8s.io/metrics-server, the resource metrics API the real node's HPA
// reads, built by ../build.sh (never compiled itself).
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
