// Command tokenward is the operator's and the GitHub Action's entry point to
// a tokenward store: rotate tokens, review a Terraform plan, verify a token,
// verify the audit chain, read and write user configuration, and re-wrap
// sealed values under a new master key.
//
// Configuration comes from flags, then TOKENWARD_* environment variables,
// then GitHub Action inputs (INPUT_*). TOKENWARD_NOW fixes the clock for
// tests and drills only.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/sethvargo/go-githubactions"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
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
  tokenward rotate [--dry-run] [--force] [--token NAME]... [--max-rotations N] [--workers N] [--skip-files]
                                        rotate every token that is due and deliver the new values
  tokenward review --plan plan.json [--format markdown|json] [--fail-on high] [--policy FILE]
                                        report what a plan grants, with risk flags; exit 1 at --fail-on
  tokenward verify [--scope S]... [--all]
                                        read a token on stdin and verify it (JSON out; exit 0 when valid);
                                        --all: one token a line, a JSON array out, exit 0 when all are valid
  tokenward audit verify [--pubkey ID:KEY]... [--signed-head] [--witness SEQ:HASH]...
                                        verify the audit log's hash chain, its signed checkpoints and witnesses
  tokenward audit pubkey                print the public keys that sign the audit log's checkpoints
  tokenward config get --user U         print a user's effective configuration (JSON)
  tokenward config set --user U K=V...  set some of a user's values (V is JSON, or a plain string); never a sensitive one
  tokenward config set --user U --stdin [K]   the same from stdin (or --file F): K's value, or KEY=VALUE lines or a JSON object
  tokenward config unset --user U K...  remove some of a user's values
  tokenward rekey                       re-wrap every sealed value under the primary master key
  tokenward version

Common flags (or environment, or action inputs):
  --store DSN            TOKENWARD_STORE, input "store": a SQLite path or a postgres:// URL
                         (or TOKENWARD_STORE_FILE: a file holding it, to keep a password out of the environment)
  --master-key-file F    TOKENWARD_MASTER_KEY_FILE (or TOKENWARD_MASTER_KEY, input "master-key"); verify and audit verify need none
  --create               TOKENWARD_STORE_CREATE=1: create the store when it does not exist (otherwise that is an error);
                         verify and audit verify open the store read-only and never create it
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
		if len(args) < 2 {
			return c.usageError("config: use \"config get\", \"config set\" or \"config unset\"")
		}
		switch args[1] {
		case "get":
			return c.configGet(ctx, args[2:])
		case "set":
			return c.configSet(ctx, args[2:])
		case "unset":
			return c.configUnset(ctx, args[2:])
		}
		return c.usageError(fmt.Sprintf("config: unknown subcommand %q: use get, set or unset", args[1]))
	case "rekey":
		return c.rekey(ctx, args[1:])
	case "rotate":
		return c.rotate(ctx, args[1:])
	case "review":
		return c.review(ctx, args[1:])
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

// fail reports an error, as an annotation in a workflow.
func (c *cli) fail(code int, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	if c.inWorkflow() {
		c.gha.Errorf("%s", msg)
	} else {
		fmt.Fprintln(c.stderr, "tokenward:", msg)
	}
	return code
}

// storeFlags are the flags every command that opens the store takes.
type storeFlags struct {
	store, masterKeyFile string
	create               givenBool
}

// givenBool is a boolean flag that knows whether it was given, so that
// --create=false wins over TOKENWARD_STORE_CREATE=1.
type givenBool struct{ value, given bool }

func (b *givenBool) String() string   { return strconv.FormatBool(b.value) }
func (b *givenBool) IsBoolFlag() bool { return true }
func (b *givenBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.value, b.given = v, true
	return nil
}

func (c *cli) flagSet(name string) (*flag.FlagSet, *storeFlags) {
	fs := flag.NewFlagSet("tokenward "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage:\n%s\nFlags:\n", commandUsage(name))
		fs.PrintDefaults()
	}
	sf := &storeFlags{}
	fs.StringVar(&sf.store, "store", "", "store DSN: a SQLite path or a postgres:// URL (default $TOKENWARD_STORE)")
	fs.StringVar(&sf.masterKeyFile, "master-key-file", "", "file holding the base64 master key (default $TOKENWARD_MASTER_KEY_FILE)")
	fs.Var(&sf.create, "create", "create the store when it does not exist (default $TOKENWARD_STORE_CREATE=1)")
	return fs, sf
}

// inputOf names the action input that stands in for an environment
// variable, and whether its value is a secret to mask.
var inputOf = map[string]struct {
	input  string
	secret bool
}{
	registry.EnvStore:                   {"store", false}, // masked below when it holds credentials
	seal.EnvKey:                         {"master-key", true},
	destination.EnvTokenwardGitHubToken: {"github-token", true},
	destination.EnvGitHubAppID:          {"app-id", false},
	destination.EnvGitHubInstallation:   {"app-installation-id", false},
	destination.EnvGitHubAppKey:         {"app-private-key", true},
}

// env reads a setting: the environment variable first, then the action
// input that stands in for it. Secret inputs are masked in a workflow before
// anything can print them.
func (c *cli) env(name string) string {
	if v := c.getenv(name); v != "" {
		return v
	}
	if name == registry.EnvStore && c.getenv(registry.EnvStoreFile) != "" {
		return "" // TOKENWARD_STORE_FILE, a TOKENWARD_* variable, wins over the input
	}
	in, ok := inputOf[name]
	if !ok {
		return ""
	}
	v := c.gha.GetInput(in.input)
	if v != "" && (in.secret || strings.Contains(v, "@")) && c.inWorkflow() {
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				c.gha.AddMask(line)
			}
		}
	}
	return v
}

// config resolves where the store and the key are: flags first, then
// TOKENWARD_* variables, then action inputs.
func (c *cli) config(sf *storeFlags) registry.Config {
	getenv := c.env
	actor := "tokenward"
	if a := c.getenv("GITHUB_ACTOR"); a != "" {
		actor = "github:" + a
	}
	// A missing store is created only when asked: a mistyped path must not
	// start a new, empty store.
	create := c.getenv(registry.EnvStoreCreate) == "1"
	if sf.create.given {
		create = sf.create.value
	}
	cfg := registry.Config{Store: sf.store, MasterKeyFile: sf.masterKeyFile, Actor: actor, Getenv: getenv, Create: create}
	c.warn(registry.Warnings(cfg))
	return cfg
}

// open opens the registry: the store and the master key.
func (c *cli) open(ctx context.Context, sf *storeFlags, opts ...registry.Option) (*registry.Registry, error) {
	return registry.Open(ctx, c.config(sf), opts...)
}
