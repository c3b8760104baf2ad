package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// configCommand dispatches the config subcommands.
func (c *cli) configCommand(ctx context.Context, args []string) int {
	if len(args) < 1 {
		return c.usageError("config: use \"config get\", \"config set\" or \"config unset\"")
	}
	switch args[0] {
	case "get":
		return c.configGet(ctx, args[1:])
	case "set":
		return c.configSet(ctx, args[1:])
	case "unset":
		return c.configUnset(ctx, args[1:])
	}
	return c.usageError(fmt.Sprintf("config: unknown subcommand %q: use get, set or unset", args[0]))
}

// effectiveOutput is one key of config get. A sensitive value is shown only
// with --reveal.
type effectiveOutput struct {
	Value     json.RawMessage `json:"value,omitempty"`
	Source    string          `json:"source"`
	Sensitive bool            `json:"sensitive,omitempty"`
}

func (c *cli) configGet(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("config get")
	user := fs.String("user", "", "the user whose effective configuration to print (required)")
	reveal := fs.Bool("reveal", false, "print the values of sensitive settings too")
	remote := remoteConfigFlags(fs)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *user == "" {
		return c.fail(exitUsage, "config get: --user is required")
	}
	if *remote.server != "" {
		return c.configGetRemote(ctx, remote, *user, *reveal)
	}
	reg, err := c.open(ctx, sf)
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	eff, err := reg.EffectiveConfig(ctx, *user)
	if err != nil {
		return c.fail(exitTrouble, "config get: %v", err)
	}
	out := map[string]effectiveOutput{}
	for _, e := range eff {
		o := effectiveOutput{Value: e.Value, Source: e.Source, Sensitive: e.Sensitive}
		switch {
		case e.Sensitive && !*reveal:
			o.Value = nil
		case e.Sensitive && c.inWorkflow():
			c.maskValue(e.Value)
		}
		out[e.Key] = o
	}
	return c.printJSON(out)
}

// maskValue hides a sensitive JSON value in the workflow log: every string
// in it, as it is and as printJSON escapes it (the log masks text line by
// line, so each string of a list or object is masked on its own).
func (c *cli) maskValue(v json.RawMessage) {
	var x any
	if json.Unmarshal(v, &x) != nil {
		c.gha.AddMask(string(v))
		return
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			if x == "" {
				return
			}
			c.gha.AddMask(x)
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(x)
			if escaped := strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), `"`)[1:]; escaped != x {
				c.gha.AddMask(escaped)
			}
		case []any:
			for _, item := range x {
				walk(item)
			}
		case map[string]any:
			for _, item := range x {
				walk(item)
			}
		}
	}
	walk(x)
}
func (c *cli) configSet(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("config set")
	user := fs.String("user", "", "the user whose values to set (required)")
	stdin := fs.Bool("stdin", false, "read the value of the one KEY given from standard input, or without a KEY a document of values: KEY=VALUE lines or a JSON object")
	file := fs.String("file", "", "read the same from `FILE` instead of standard input")
	remote := remoteConfigFlags(fs)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	in, closeIn, fromInput, err := c.openValuesInput(*stdin, *file)
	if err != nil {
		return c.fail(exitUsage, "config set: %v", err)
	}
	if fromInput {
		defer closeIn()
	}
	switch {
	case *user == "":
		return c.fail(exitUsage, "config set: give --user")
	case !fromInput && fs.NArg() == 0:
		return c.fail(exitUsage, "config set: give KEY=VALUE arguments, or --stdin (or --file FILE) with one KEY or a document of values")
	case fromInput && (fs.NArg() > 1 || fs.NArg() == 1 && strings.Contains(fs.Arg(0), "=")):
		// Not echoed: the argument may hold a secret.
		return c.fail(exitUsage, "config set: with --stdin or --file, give one KEY and no value (the value is read from %s), or no argument for a document of values", in.name)
	}
	set := map[string]json.RawMessage{}
	var argKeys []string
	if !fromInput {
		for i, kv := range fs.Args() {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				// Not echoed: the argument may be a mistyped secret.
				return c.fail(exitUsage, "config set: argument %d is not KEY=VALUE", i+1)
			}
			set[k] = argValue(v)
			argKeys = append(argKeys, k)
		}
	}
	var text []byte
	if fromInput {
		if text, err = in.read(); err != nil {
			return c.fail(exitUsage, "config set: %v", err)
		}
		if fs.NArg() == 0 {
			if set, err = parseValues(in.name, text); err != nil {
				return c.fail(exitUsage, "config set: %v", err)
			}
		}
	}
	if *remote.server != "" {
		inputKey := ""
		if fromInput && fs.NArg() == 1 {
			inputKey = fs.Arg(0)
		}
		return c.configSetRemote(ctx, remote, *user, set, argKeys, inputKey, in.name, text)
	}
	reg, err := c.open(ctx, sf)
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	if err := refuseSensitiveArgs(ctx, reg, *user, argKeys); err != nil {
		return c.fail(exitUsage, "config set: %v", err)
	}
	if fromInput && fs.NArg() == 1 {
		v, err := inputValue(ctx, reg, in.name, fs.Arg(0), text)
		if err != nil {
			return c.fail(exitUsage, "config set: %v", err)
		}
		set[fs.Arg(0)] = v
	}
	return c.writeUserValues(ctx, reg, *user, set, nil)
}

func (c *cli) configUnset(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("config unset")
	user := fs.String("user", "", "the user whose values to remove (required)")
	remote := remoteConfigFlags(fs)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *user == "" || fs.NArg() == 0 {
		return c.fail(exitUsage, "config unset: give --user and at least one KEY")
	}
	if *remote.server != "" {
		return c.configUnsetRemote(ctx, remote, *user, fs.Args())
	}
	return c.updateUserValues(ctx, sf, *user, nil, fs.Args())
}

// updateUserValues sets and removes some of a user's values in one change.
func (c *cli) updateUserValues(ctx context.Context, sf *storeFlags, user string, set map[string]json.RawMessage, unset []string) int {
	reg, err := c.open(ctx, sf)
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	return c.writeUserValues(ctx, reg, user, set, unset)
}

// writeUserValues is updateUserValues on an open registry.
func (c *cli) writeUserValues(ctx context.Context, reg *registry.Registry, user string, set map[string]json.RawMessage, unset []string) int {
	if err := reg.UpdateUserValues(ctx, user, set, unset); err != nil {
		var ie *registry.InvalidError
		if errors.As(err, &ie) {
			return c.fail(exitUsage, "config: %v", err)
		}
		return c.fail(exitTrouble, "config: %v", err)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		fmt.Fprintf(c.stdout, "set %s for user %s\n", strings.Join(keys, ", "), user)
	}
	if len(unset) > 0 {
		fmt.Fprintf(c.stdout, "unset %s for user %s\n", strings.Join(unset, ", "), user)
	}
	return exitOK
}
