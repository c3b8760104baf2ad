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
// always). A plan's provider is a short-lived process that keeps little
// live (about 9 MB at 1,000 tokens, most of it the framework's and gRPC's),
// so its peak is the binary's own resident pages (about 30 MiB, which no
// setting changes) plus a heap the collector lets grow to (1 + GOGC/100)
// times what is live; a soft limit does not lower that, since the heap
// never nears it (TW_GOMEMLIMIT=40MiB left the peak at 67 MiB). With
// internal/pluginserver forgetting finished requests' contexts every 64
// RPCs rather than 256, and the release's static build (CGO_ENABLED=0),
// bench/plan.sh (1,000 applied tokens, medians of five alternating rounds
// on the shared 2-core machine, 2026-12-02) measured: TW_GOGC="50 100",
// GOGC 100 planned in 17.2 s with a 57 MiB peak (55-57 in the rounds),
// 50 in 22.7 s with 50 MiB (do-nothing provider 22.4 s); TW_GOGC="50 75",
// 75 in 26.7 s with 54 MiB, 50 in 27.0 s with 51 MiB (do-nothing 27.3 s).
// So 100 is the fastest that stays under the 60 MiB a plan's provider is
// allowed (issue 18); if what a plan keeps live grows, 75 is the next step
// (before these changes, 100 peaked at 64-68 MiB).
const memoryLimit = 100 << 20

func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
