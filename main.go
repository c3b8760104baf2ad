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
	quietSDKLogs()
	err := providerserver.Serve(context.Background(), provider.New(version, os.Getenv), providerserver.ServeOpts{
		Address: "registry.terraform.io/tokenward/tokenward",
		Debug:   *debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}

// quietSDKLogs turns off the plugin SDK's own log lines unless some
// logging was asked for. Terraform shows a provider's logs only with TF_LOG
// or TF_LOG_PROVIDER set and drops them otherwise, but the framework
// formats a trace line for every attribute of every request all the same:
// about 40% of the time of a plan of 1,000 tokens (bench/plan.sh). With
// TF_LOG set, or any TF_LOG_SDK* level, nothing changes.
func quietSDKLogs() {
	for _, k := range []string{"TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_SDK", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_SDK_PROTO"} {
		if os.Getenv(k) != "" {
			return
		}
	}
	for _, k := range []string{"TF_LOG_SDK", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_SDK_PROTO"} {
		os.Setenv(k, "OFF")
	}
}
