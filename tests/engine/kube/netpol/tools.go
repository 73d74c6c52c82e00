//go:build tools

// Package tools pins sigs.k8s.io/kube-network-policies, whose controller ./main.go runs.
package tools

import _ "sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
