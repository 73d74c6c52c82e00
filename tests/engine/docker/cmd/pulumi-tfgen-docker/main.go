// Command pulumi-tfgen-docker writes the Pulumi schema (and bridge metadata) of our docker build;
// build.sh runs `pulumi-tfgen-docker schema --out DIR` and embeds the result in the provider.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"mlplan.dev/tests/engine/docker/prov"
)

func main() { tfgen.Main("docker", prov.Version, prov.Provider(nil)) }
