package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
)

// flagSource names where a flag's value comes from when the flag is not
// given: a TOKENWARD_* variable, then an action input.
type flagSource struct {
	env   string // TOKENWARD_* variable; empty for none
	input string // action input; empty for none
	list  bool   // the input holds several values, separated by commas, spaces or new lines
}

// flagSources lists, per command (the flag set's name), the flags that an
// environment variable or an action input stands in for. --store and
// --master-key-file are not here: the registry resolves them, in the same
// order, with TOKENWARD_STORE_FILE and the masking of inputs (see cli.env).
// A command's entries are its own: review's format is not another
// command's --format, though action.yml always sets the input. No entry
// may stand for a secret: a value its flag refuses is quoted in the error.
var flagSources = map[string]map[string]flagSource{
	"tokenward rotate": {
		"dry-run":       {input: "dry-run"},
		"force":         {input: "force"},
		"token":         {input: "tokens", list: true},
		"max-rotations": {input: "max-rotations"},
		"workers":       {input: "workers"},
		"skip-files":    {input: "skip-files"},
	},
	"tokenward serve": {
		"listen":          {env: "TOKENWARD_LISTEN"},
		"tls-cert":        {env: "TOKENWARD_TLS_CERT"},
		"tls-key":         {env: "TOKENWARD_TLS_KEY"},
		"issuer":          {env: "TOKENWARD_ISSUER"},
		"trusted-proxies": {env: "TOKENWARD_TRUSTED_PROXIES", list: true},
		"authz-from":      {env: "TOKENWARD_AUTHZ_FROM", list: true},
		"metrics-from":    {env: "TOKENWARD_METRICS_FROM", list: true},
		"max-staleness":   {env: "TOKENWARD_MAX_STALENESS"},
		// The usage log's, the configuration API's and its streams'.
		"instance":              {env: "TOKENWARD_INSTANCE"},
		"usage-log":             {env: "TOKENWARD_USAGE_LOG"},
		"usage-queue":           {env: "TOKENWARD_USAGE_QUEUE"},
		"usage-retention":       {env: "TOKENWARD_USAGE_RETENTION"},
		"insecure-config-api":   {env: "TOKENWARD_INSECURE_CONFIG_API"},
		"config-cache-users":    {env: "TOKENWARD_CONFIG_CACHE_USERS"},
		"max-streams":           {env: "TOKENWARD_MAX_STREAMS"},
		"max-streams-per-token": {env: "TOKENWARD_MAX_STREAMS_PER_TOKEN"},
	},
	"tokenward verify": {
		"server":            {env: "TOKENWARD_SERVER"},
		"client-token-file": {env: "TOKENWARD_CLIENT_TOKEN_FILE"},
	},
	"tokenward review": {
		"plan":    {input: "plan"},
		"format":  {input: "format"},
		"fail-on": {input: "fail-on"},
		"policy":  {input: "policy"},
	},
	// action.yml's fail-on input defaults to empty, so each command keeps
	// its own default: high for review, never for report.
	"tokenward report": {
		"format":       {input: "format"},
		"fail-on":      {env: "TOKENWARD_FAIL_ON", input: "fail-on"},
		"policy":       {input: "policy"},
		"unused-after": {env: "TOKENWARD_UNUSED_AFTER", input: "unused-after"},
		"issue-key":    {input: "issue-key"},
		"keep-issue":   {input: "keep-issue"},
	},
}

// takesArguments lists the commands that take arguments after their flags;
// every other command refuses them, so `tokenward rekey help` rekeys
// nothing.
var takesArguments = map[string]bool{
	"tokenward config set":   true,
	"tokenward config unset": true,
	"tokenward alerts ack":   true,
}

// parse parses flags, then completes every flag that was not given from its
// TOKENWARD_* variable, else its action input, else it keeps its default:
// a flag that was given always wins, even when it says the default
// (--dry-run=false, --max-rotations=0). Values from the environment go
// through the flag's own parser, so they are checked as strictly as flags.
// A usage problem returns its exit code.
func (c *cli) parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 && !takesArguments[fs.Name()] {
		// Not echoed: a token or a value given by mistake as an argument
		// must not reach a log.
		name := strings.TrimPrefix(fs.Name(), "tokenward ")
		hint := ""
		if name == "verify" {
			hint = "; the token goes on stdin, such as: tokenward verify < token.txt"
		}
		return c.fail(exitUsage, "%s: unexpected argument (%d given, not shown): it takes flags only%s", name, fs.NArg(), hint), false
	}
	if err := c.resolve(fs, flagSources[fs.Name()]); err != nil {
		return c.fail(exitUsage, "%s: %v", strings.TrimPrefix(fs.Name(), "tokenward "), err), false
	}
	return 0, true
}

// resolve fills the flags of fs that were not given from their sources.
func (c *cli) resolve(fs *flag.FlagSet, sources map[string]flagSource) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		src, ok := sources[f.Name]
		if !ok || given[f.Name] {
			return
		}
		from, v := "", ""
		if src.env != "" {
			from, v = src.env, strings.TrimSpace(c.getenv(src.env))
		}
		if v == "" && src.input != "" {
			from, v = "input "+src.input, c.gha.GetInput(src.input)
		}
		if v == "" {
			return
		}
		values := []string{v}
		if src.list {
			values = strings.FieldsFunc(v, func(r rune) bool {
				return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
			})
		}
		for _, v := range values {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s is %q: %s (it stands in for --%s)", from, v, hint(f, err), f.Name))
				return
			}
		}
	})
	return errors.Join(errs...)
}

// hint says what a flag takes, for a value from the environment that its
// parser refused.
func hint(f *flag.Flag, err error) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "write true or false"
	}
	return err.Error()
}

// boundedInt is an int flag that refuses values below min, whether it is
// given on the command line or comes from the environment.
type boundedInt struct {
	v   *int
	min int
}

// intFlag defines an int flag with a lower bound.
func intFlag(fs *flag.FlagSet, name string, def, min int, usage string) *int {
	v := def
	fs.Var(&boundedInt{v: &v, min: min}, name, usage)
	return &v
}

func (b *boundedInt) String() string {
	if b == nil || b.v == nil {
		return "0"
	}
	return strconv.Itoa(*b.v)
}

func (b *boundedInt) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("must be a whole number, %d or more", b.min)
	}
	if n < b.min {
		return fmt.Errorf("must be %d or more", b.min)
	}
	*b.v = n
	return nil
}

// isHelp tells whether an argument asks for help, as the flag package
// understands it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// commandUsage is the lines of the usage that describe a command, or every
// subcommand of a group ("audit", "config"), with their descriptions.
func commandUsage(name string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(line, "  tokenward "):
			cmd := strings.TrimPrefix(line, "  tokenward ")
			in = cmd == name || strings.HasPrefix(cmd, name+" ")
		case !strings.HasPrefix(line, "   "):
			in = false // the end of the list of commands
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

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
