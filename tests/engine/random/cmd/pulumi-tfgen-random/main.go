// Command pulumi-tfgen-random writes the Pulumi schema (and bridge metadata) of our random build;
// build.sh runs `pulumi-tfgen-random schema --out DIR` and embeds the result in the provider.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/pf/tfgen"

	"mlplan.dev/tests/engine/random/prov"
)

func main() { tfgen.Main("random", prov.Provider(nil)) }
