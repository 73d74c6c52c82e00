// Package prov describes the docker package for the Pulumi Terraform bridge: the Terraform Docker
// provider (kreuzwerker, SDKv2 half) under the tokens and property names pulumi-docker 5.2.0
// publishes (docker:index/container:Container, docker:index/remoteImage:RemoteImage, ...), so the
// pulumi_docker Python SDK talks to it. pulumi-docker's own native docker:index/image:Image
// (buildkit) is not part of it.
package prov

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// Version is stamped by build.sh (-X).
var Version = "0.0.0-dev"

func resource(name string) *tfbridge.ResourceInfo {
	return &tfbridge.ResourceInfo{Tok: tfbridge.MakeResource("docker", "index", name)}
}

func dataSource(name string) *tfbridge.DataSourceInfo {
	return &tfbridge.DataSourceInfo{Tok: tfbridge.MakeDataSource("docker", "index", name)}
}

// Provider returns the bridge description; metadata is the tfgen-written bridge-metadata.json
// (nil while generating it).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	container := resource("Container")
	// As pulumi-docker: a replaced container goes first (its name and ports are unique).
	container.DeleteBeforeReplace = true
	container.Fields = map[string]*tfbridge.SchemaInfo{
		// A list, but one command: not pluralized (pulumi-docker's name).
		"command": {Name: "command"},
		// Not pluralized to networksAdvanceds (pulumi-docker's name).
		"networks_advanced": {Name: "networksAdvanced"},
	}
	remoteImage := resource("RemoteImage") // TF docker_image; docker:index/image:Image is native upstream
	remoteImage.Fields = map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}}

	info := tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(shim.NewProvider(Version)),
		Name:         "docker",
		Description:  "A Pulumi package for interacting with Docker in Pulumi programs",
		Keywords:     []string{"pulumi", "docker"},
		License:      "Apache-2.0",
		Version:      Version,
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Config: map[string]*tfbridge.SchemaInfo{
			// pulumi_docker.config.host falls back to DOCKER_HOST; so does the provider.
			"host":          {Default: &tfbridge.DefaultInfo{EnvVars: []string{"DOCKER_HOST"}}},
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_container":      container,
			"docker_image":          remoteImage,
			"docker_config":         resource("ServiceConfig"),
			"docker_network":        resource("Network"),
			"docker_secret":         resource("Secret"),
			"docker_service":        resource("Service"),
			"docker_volume":         resource("Volume"),
			"docker_registry_image": resource("RegistryImage"),
			"docker_plugin":         resource("Plugin"),
			"docker_tag":            resource("Tag"),
			"docker_buildx_builder": resource("BuildxBuilder"),
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_network":                  dataSource("getNetwork"),
			"docker_registry_image":           dataSource("getRegistryImage"),
			"docker_registry_image_manifests": dataSource("getRegistryImageManifests"),
			"docker_plugin":                   dataSource("getPlugin"),
			"docker_image":                    dataSource("getRemoteImage"),
			"docker_logs":                     dataSource("getLogs"),
		},
	}
	// Anything the list above misses still gets a token of the same shape.
	info.MustComputeTokens(tokens.SingleModule("docker_", "index", tokens.MakeStandard("docker")))
	info.SetAutonaming(255, "-")
	return info
}
