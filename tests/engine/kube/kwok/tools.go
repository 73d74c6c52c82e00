//go:build tools

// Package tools pins kwok, the node and pod simulator built by ../build.sh (never compiled itself).
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
