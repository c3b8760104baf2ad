package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// verifyOutput is what verify prints. It never holds the value.
type verifyOutput struct {
	Line      int        `json:"line,omitempty"` // with --all: the line of stdin the token was on, from 1
	Valid     bool       `json:"valid"`
	Code      token.Code `json:"code"`
	Token     string     `json:"token,omitempty"`
	Version   string     `json:"version,omitempty"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt string     `json:"expires_at,omitempty"`
}

// verifyLimit bounds one token's line on stdin; verifyAllLimit the whole
// input of verify --all.
const (
	verifyLimit    = 4096
	verifyAllLimit = 16 << 20
)

func (c *cli) verify(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("verify")
	var scopes stringList
	fs.Var(&scopes, "scope", "a scope the token must grant (repeatable)")
	all := fs.Bool("all", false, "read one token a line and verify each: a JSON array out, exit 0 only when all are valid")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	limit := int64(verifyLimit)
	if *all {
		limit = verifyAllLimit
	}
	values, lines, err := readTokens(io.LimitReader(c.stdin, limit))
	if err != nil {
		return c.fail(exitUsage, "read the tokens from stdin: %v", err)
	}
	if len(values) == 0 {
		return c.fail(exitUsage, "no token on stdin: pipe the token in, such as: tokenward verify < token.txt")
	}
	if len(values) > 1 && !*all {
		// Said on stderr, so stdout stays the one JSON result.
		fmt.Fprintf(c.stderr, "tokenward: verify read only the first of the %d tokens on stdin; give --all to verify each line\n", len(values))
		values = values[:1]
	}
	if c.inWorkflow() {
		for _, v := range values {
			c.gha.AddMask(v)
		}
	}
	// Token secrets are kept hashed, not sealed: a verifier needs no master
	// key and no write access, so it cannot issue or change anything.
	reg, err := registry.OpenVerifier(ctx, c.config(sf))
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	outs := make([]verifyOutput, 0, len(values))
	allValid := true
	for i, value := range values {
		res, err := reg.Verify(ctx, value, scopes)
		if err != nil {
			return c.fail(exitTrouble, "verify: %v", err)
		}
		out := verifyOutput{Valid: res.Valid(), Code: res.Code, Token: res.TokenName, Version: res.VersionID, Scopes: res.Scopes}
		if out.Scopes == nil {
			out.Scopes = []string{}
		}
		if !res.ExpiresAt.IsZero() {
			out.ExpiresAt = res.ExpiresAt.UTC().Format(time.RFC3339)
		}
		if *all {
			out.Line = lines[i]
		}
		allValid = allValid && res.Valid()
		outs = append(outs, out)
	}
	var printed any = outs[0]
	if *all {
		printed = outs // one result a line, in the order read
	}
	if code := c.printJSON(printed); code != exitOK {
		return code
	}
	if !allValid {
		return exitFailed
	}
	return exitOK
}

// readTokens returns the non-empty lines of r, trimmed, and the number of
// each line (from 1), since blank lines are skipped. A line longer than a
// token could be is refused by its number, without echoing it.
func readTokens(r io.Reader) (values []string, lines []int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), verifyLimit)
	n := 0
	for sc.Scan() {
		n++
		if v := strings.TrimSpace(sc.Text()); v != "" {
			values = append(values, v)
			lines = append(lines, n)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, fmt.Errorf("line %d is longer than %d bytes: one token a line", n+1, verifyLimit)
		}
		return nil, nil, err
	}
	return values, lines, nil
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
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *user == "" {
		return c.fail(exitUsage, "config get: --user is required")
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

// printJSON writes v to stdout as indented JSON, with <, > and & as they are.
func (c *cli) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail(exitTrouble, "write result: %v", err)
	}
	return exitOK
}

func (c *cli) configSet(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("config set")
	user := fs.String("user", "", "the user whose values to set (required)")
	stdin := fs.Bool("stdin", false, "read the value of the one KEY given from standard input, or without a KEY a document of values: KEY=VALUE lines or a JSON object")
	file := fs.String("file", "", "read the same from `FILE` instead of standard input")
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
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *user == "" || fs.NArg() == 0 {
		return c.fail(exitUsage, "config unset: give --user and at least one KEY")
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

func (c *cli) rekey(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("rekey")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	reg, err := c.open(ctx, sf)
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	n, err := reg.Rekey(ctx)
	if err != nil {
		return c.fail(exitTrouble, "rekey: %v", err)
	}
	fmt.Fprintf(c.stdout, "re-wrapped %d sealed values under the primary master key\n", n)
	return exitOK
}
