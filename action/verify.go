package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

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
	reg, err := c.openVerifier(ctx, sf)
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
