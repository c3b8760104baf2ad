// Command terraform-provider-tokenward serves the tokenward Terraform provider.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/debug"

	"github.com/tokenward/terraform-provider-tokenward/internal/pluginserver"
	"github.com/tokenward/terraform-provider-tokenward/internal/provider"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	debug := flag.Bool("debug", false, "run the provider for a debugger such as delve")
	// -version lets a release check, or a person, see the stamp without Terraform.
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("terraform-provider-tokenward", version)
		return
	}
	quietSDKLogs()
	limitMemory()
	// pluginserver, not providerserver.Serve: it works around the
	// framework's keeping every request's context (see its doc comment).
	err := pluginserver.Serve("registry.terraform.io/tokenward/tokenward", provider.New(version, os.Getenv), *debug)
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

// memoryLimit is the soft limit on the provider's Go memory, unless
// GOMEMLIMIT sets another. Above it the collector runs more often, capped
// by the runtime at half the CPU, so a provider that truly needs more
// memory slows down, not fails.
//
// GOGC stays Go's default of 100 (GOGC from the environment wins as
// always). With the framework's per-request leak worked around
// (internal/pluginserver) a plan of 1,000 tokens keeps little live, and
// bench/plan.sh with TW_GOGC="100 200 400" measured, medians of five
// alternating rounds on the shared, heavily loaded 2-core machine: 100
// planned in 24.7 s with a 54 MiB peak, 200 in 25.2 s with 69 MiB, 400 in
// 18.8 s with 106 MiB (terraform_data: 10.9 s). Higher values plan faster
// only by growing the heap toward this limit, past the 60 MiB a plan's
// provider is allowed (issue 18), so 100 is the fastest that fits.
const memoryLimit = 100 << 20

func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
