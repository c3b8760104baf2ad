// Command tokenward is the operator's and the GitHub Action's entry point to
// a tokenward store: rotate tokens, review a Terraform plan, verify a token
// (or serve verification over HTTP), verify the audit chain, read and write
// user configuration, and re-wrap sealed values under a new master key.
//
// Configuration comes from flags, then TOKENWARD_* environment variables,
// then GitHub Action inputs (INPUT_*). TOKENWARD_NOW fixes the clock for
// tests and drills only.
//
// The binary only parses, calls the internal packages and renders: main.go
// dispatches; each command has a file of its own with its flags and its
// output (verify.go, serve.go, audit.go, config.go, rekey.go, rotate.go,
// review.go); open.go opens the registry, the router and the engine they work on;
// settings.go completes flags from the environment and the action's
// inputs; output.go holds what every command prints with.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/sethvargo/go-githubactions"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the check ran and said no: invalid token, broken chain
	exitUsage   = 2 // bad flags or input
	exitTrouble = 3 // the store or the key could not be used
)

const usage = `tokenward manages API tokens and user configuration.

Usage:
  tokenward rotate [--dry-run] [--force] [--token NAME]... [--max-rotations N] [--workers N] [--skip-files] [--honeytokens]
                                        rotate every token that is due and deliver the new values (honeytokens only when asked)
  tokenward review --plan plan.json [--format markdown|json] [--fail-on high] [--policy FILE] [--store DSN [--usage-window 30d]]
                                        report what a plan grants, with risk flags; exit 1 at --fail-on
  tokenward verify [--scope S]... [--all]
                                        read a token on stdin and verify it (JSON out; exit 0 when valid);
                                        --all: one token a line, a JSON array out, exit 0 when all are valid
  tokenward verify --server URL [--client-token-file F] [--scope S]... [--all]
                                        the same, asking a tokenward serve (POST /v1/verify) instead of the store;
                                        the caller's token (granting tokenward:introspect) from the file or TOKENWARD_CLIENT_TOKEN
  tokenward serve [--listen ADDR] [--tls-cert F --tls-key F] [--issuer ISS] [--trusted-proxies CIDRS] [--authz-from CIDRS] [--max-staleness D]
                                        answer verification over HTTP (RFC 7662 introspection, /v1/verify, forward auth)
                                        from memory, following the store's changes, until SIGTERM or SIGINT; no master key
                                        alerts: [--learning-period D] [--failure-burst N/W] [--scope-probe N/W] [--policy FILE]
                                        [--alert-webhook URL --alert-webhook-secret-file F]; GET /v1/alerts
  tokenward audit verify [--pubkey ID:KEY]... [--signed-head] [--witness SEQ:HASH]...
                                        verify the audit log's hash chain, its signed checkpoints and witnesses
  tokenward audit pubkey                print the public keys that sign the audit log's checkpoints
  tokenward usage [--token NAME] [--since 24h] [--ip CIDR] [--code CODE] [--format table|json|csv] [--summary] [--limit N]
                                        who used which token, from where (the usage log serve writes); no master key
  tokenward usage maintain [--usage-retention 90d] [--ahead 7d]
                                        create the usage log's daily partitions ahead and remove old events (for a schedule)
  tokenward alerts [--since 24h] [--format table|json] [--limit N]
                                        the alerts serve's detectors raised; no master key
  tokenward alerts ack [--by NAME] ID   record who acknowledged an alert
  tokenward report [--format markdown|json] [--unused-after 30d] [--fail-on info|warn|high|never] [--policy FILE]
                                        review the store as it is: unused tokens and scopes, policy, rotation, values,
                                        alerts, audit chain; exit 1 at --fail-on; read-only, the master key optional
  tokenward config get --user U         print a user's effective configuration (JSON)
  tokenward config set --user U K=V...  set some of a user's values (V is JSON, or a plain string); never a sensitive one
  tokenward config set --user U --stdin [K]   the same from stdin (or --file F): K's value, or KEY=VALUE lines or a JSON object
  tokenward config unset --user U K...  remove some of a user's values
  tokenward config get|set|unset --server URL [--client-token-file F] ...
                                        the same through a tokenward serve's configuration API, with a caller token
                                        (the file or TOKENWARD_CLIENT_TOKEN) instead of the store and the master key
  tokenward rekey                       re-wrap every sealed value under the primary master key
  tokenward version

Common flags (or environment, or action inputs):
  --store DSN            TOKENWARD_STORE, input "store": a SQLite path or a postgres:// URL
                         (or TOKENWARD_STORE_FILE: a file holding it, to keep a password out of the environment)
  --master-key-file F    TOKENWARD_MASTER_KEY_FILE (or TOKENWARD_MASTER_KEY, input "master-key"); verify, serve and audit verify need none
  --create               TOKENWARD_STORE_CREATE=1: create the store when it does not exist (otherwise that is an error);
                         verify, serve and audit verify open the store read-only and never create it
A flag that is given always wins, even --dry-run=false.
TOKENWARD_NOW=RFC3339 fixes the clock, for tests and drills only.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], io.Reader(os.Stdin), os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// cli is one invocation: its streams, environment and action handle.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	gha            *githubactions.Action
}

// inWorkflow tells whether the binary runs as a GitHub Actions step.
func (c *cli) inWorkflow() bool { return c.getenv("GITHUB_ACTIONS") == "true" }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	// Rotation workers print concurrently; a mask command must never be
	// interleaved with other output.
	stdout = &lockedWriter{w: stdout}
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		gha: githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(getenv))}
	if len(args) == 0 {
		// In a workflow the command comes from the action's input.
		if cmd := c.gha.GetInput("command"); cmd != "" {
			args = strings.Fields(cmd)
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if len(args) == 2 && isHelp(args[1]) && (args[0] == "audit" || args[0] == "config" || args[0] == "version") {
		// A command group (or version) has no flags of its own: its help is
		// its lines of the usage.
		fmt.Fprint(stdout, "Usage:\n"+commandUsage(args[0]))
		return exitOK
	}
	switch args[0] {
	case "verify":
		return c.verify(ctx, args[1:])
	case "audit":
		return c.audit(ctx, args[1:])
	case "config":
		return c.configCommand(ctx, args[1:])
	case "rekey":
		return c.rekey(ctx, args[1:])
	case "rotate":
		return c.rotate(ctx, args[1:])
	case "serve":
		return c.serve(ctx, args[1:])
	case "review":
		return c.review(ctx, args[1:])
	case "usage":
		return c.usageCommand(ctx, args[1:])
	case "alerts":
		return c.alertsCommand(ctx, args[1:])
	case "report":
		return c.report(ctx, args[1:])
	case "version", "--version":
		fmt.Fprintln(stdout, "tokenward", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	return c.usageError(fmt.Sprintf("unknown command %q", args[0]))
}

func (c *cli) usageError(msg string) int {
	fmt.Fprintf(c.stderr, "tokenward: %s\n\n%s", msg, usage)
	return exitUsage
}
