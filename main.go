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
// gcPercent is the provider's GOGC unless GOGC sets another. A plan's
// provider is a short-lived process that keeps little live (a few MB at
// 1,000 tokens), so its peak is the binary's own resident pages (about
// 30 MiB, which no setting changes) plus a heap the collector lets grow to
// (1 + GOGC/100) times what is live: a higher GOGC trades memory for fewer
// collections. bench/plan.sh (1,000 applied tokens, medians of five
// alternating rounds, 2026-12-02, TW_GOGC="100 150 200") measured plans
// of 2.42x, 2.32x and 2.35x terraform_data with peaks of 48, 51 and 54 MiB
// (a run of "100 150" alone: 2.44x at 48 MiB, 2.32x at 51 MiB). So 150,
// the fastest, with room under the 60 MiB a plan's provider is allowed
// (issue 18); 100 is the step back if what a plan keeps live grows.
const (
	memoryLimit = 100 << 20
	gcPercent   = 150
)

func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
