// Package shim exposes the Terraform random provider, whose implementation is in an internal
// package. Its import path sits under the provider's module path, which is what lets it import
// that internal package (the same arrangement pulumi-random uses; this copy is ours).
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	p "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns the Terraform plugin-framework provider for random.
func NewProvider() provider.Provider { return p.New() }
