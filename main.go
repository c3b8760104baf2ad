// Command terraform-provider-tokenward serves the tokenward Terraform provider.
package main

import (
	"context"
	"flag"
	"log"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/tokenward/terraform-provider-tokenward/internal/provider"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	debug := flag.Bool("debug", false, "run the provider for a debugger such as delve")
	flag.Parse()
	err := providerserver.Serve(context.Background(), provider.New(version, os.Getenv), providerserver.ServeOpts{
		Address: "registry.terraform.io/tokenward/tokenward",
		Debug:   *debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
