// Command pulumi-resource-kubernetes serves the Kubernetes provider from its Go module.
//
// The upstream main embeds schema-embed.json and terraform-mapping-embed.json, which its
// Makefile generates and which are not part of the module. build.sh generates them from the
// module's schema.json / terraform-mapping.json into the cache and supplies them to this
// package with `go build -overlay`, so nothing generated lands in the repository.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
