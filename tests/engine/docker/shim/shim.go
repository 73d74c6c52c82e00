// Package shim exposes the Terraform Docker provider, whose implementation is in an internal
// package. Its import path sits under the provider's module path, which is what lets it import
// that internal package (the same arrangement pulumi-docker uses; this copy is ours).
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"

	p "github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider returns the Terraform SDKv2 half of the Docker provider: every resource and data
// source pulumi-docker 5.2.0 bridges (docker_container, docker_image, docker_network, ...). The
// plugin-framework half (docker_compose, the docker_containers and docker_registry_image_tags data
// sources) has no counterpart in pulumi-docker's SDKs and is left out.
func NewProvider(version string) *schema.Provider { return p.New(version)() }
