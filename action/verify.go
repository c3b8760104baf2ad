package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
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
	// Only a server (--server) reports these.
	Owner         string      `json:"owner,omitempty"`
	State         token.State `json:"state,omitempty"`
	OverlapEndsAt string      `json:"overlap_ends_at,omitempty"`
	RetryAfter    int         `json:"retry_after,omitempty"`
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
	serverURL := fs.String("server", "", "ask this tokenward serve (its base URL, such as https://tokenward.internal:8420) instead of the store (default $TOKENWARD_SERVER)")
	clientTokenFile := fs.String("client-token-file", "", "with --server: a file holding the caller's token, which grants "+server.IntrospectScope+" (default $TOKENWARD_CLIENT_TOKEN_FILE, or the value in $TOKENWARD_CLIENT_TOKEN)")
	sourceIP := fs.String("source-ip", "", "with --server: the address the token was presented from, checked against its allowed_cidrs (without it, a token with allowed_cidrs is ip_denied)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if err := registry.CheckRequiredScopes(scopes); err != nil {
		return c.fail(exitUsage, "verify: --scope: %v", err)
	}
	if *sourceIP != "" && *serverURL == "" {
		return c.fail(exitUsage, "verify: --source-ip is for --server: give the server's URL too")
	}
	if _, err := netip.ParseAddr(*sourceIP); *sourceIP != "" && err != nil {
		return c.fail(exitUsage, "verify: --source-ip %q is not an IP address, such as 203.0.113.7 or 2001:db8::7", *sourceIP)
	}
	var remote *remoteVerifier
	if *serverURL != "" {
		var err error
		if remote, err = c.remoteVerifier(*serverURL, *clientTokenFile); err != nil {
			return c.fail(exitUsage, "verify: %v", err)
		}
	} else if *clientTokenFile != "" {
		return c.fail(exitUsage, "verify: --client-token-file is for --server: give the server's URL too")
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
	verifyOne := func(value string) (verifyOutput, error) { return remote.verify(ctx, value, scopes, *sourceIP) }
	if remote == nil {
		// Token secrets are kept hashed, not sealed: a verifier needs no
		// master key and no write access, so it cannot issue or change
		// anything.
		usage := c.openVerifyUsage(ctx, sf) // first: a writable open brings the schema up to date
		defer usage.close(ctx)
		reg, err := c.openVerifier(ctx, sf)
		if err != nil {
			return c.fail(exitTrouble, "%v", err)
		}
		defer reg.Close()
		verifyOne = func(value string) (verifyOutput, error) {
			out, err := verifyLocal(ctx, reg, value, scopes)
			if err == nil {
				usage.record(ctx, value, scopes, out, reg.Now())
			}
			return out, err
		}
	}
	outs := make([]verifyOutput, 0, len(values))
	allValid := true
	for i, value := range values {
		out, err := verifyOne(value)
		if err != nil {
			return c.fail(exitTrouble, "verify: %v", err)
		}
		if *all {
			out.Line = lines[i]
		}
		allValid = allValid && out.Valid
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

// verifyLocal verifies value against the store.
func verifyLocal(ctx context.Context, reg *registry.Registry, value string, scopes []string) (verifyOutput, error) {
	res, err := reg.Verify(ctx, value, scopes)
	if err != nil {
		return verifyOutput{}, err
	}
	out := verifyOutput{Valid: res.Valid(), Code: res.Code, Token: res.TokenName, Version: res.VersionID, Scopes: res.Scopes}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if !res.ExpiresAt.IsZero() {
		out.ExpiresAt = res.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return out, nil
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

// EnvClientToken holds the caller's token for verify --server, when no
// --client-token-file names a file: never a flag, so it stays out of argv.
const EnvClientToken = "TOKENWARD_CLIENT_TOKEN"

// remoteVerifier asks a tokenward serve's POST /v1/verify.
type remoteVerifier struct {
	endpoint    string
	clientToken string
	client      *http.Client
}

// remoteVerifier checks --server and reads the caller's token.
func (c *cli) remoteVerifier(base, tokenFile string) (*remoteVerifier, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server must be the server's http:// or https:// URL, such as https://tokenward.internal:8420")
	}
	if u.User != nil {
		return nil, fmt.Errorf("--server must hold no credentials: the caller's token goes in --client-token-file or %s", EnvClientToken)
	}
	if err := checkServerScheme(u); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(u.Path, "/v1/verify") {
		u = u.JoinPath("/v1/verify")
	}
	var clientToken string
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read --client-token-file: %w", err) // names the path, not the content
		}
		clientToken = strings.TrimSpace(string(b))
		if clientToken == "" {
			return nil, fmt.Errorf("--client-token-file %s is empty: write the caller's token in it", tokenFile)
		}
	} else {
		clientToken = strings.TrimSpace(c.getenv(EnvClientToken))
	}
	if clientToken == "" {
		return nil, fmt.Errorf("--server needs the caller's token, one that grants %s: --client-token-file F or %s", server.IntrospectScope, EnvClientToken)
	}
	if c.inWorkflow() {
		c.gha.AddMask(clientToken)
	}
	client := &http.Client{Timeout: 30 * time.Second,
		// A 307 or 308 would send the body, the value being verified, again
		// to wherever it points: the value goes to the server named only.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &remoteVerifier{endpoint: u.String(), clientToken: clientToken, client: client}, nil
}

// verify asks the server about value. A server that cannot answer
// (unavailable) or refuses the caller is an error, as a store that cannot
// be read is for a local verify.
func (r *remoteVerifier) verify(ctx context.Context, value string, scopes []string, sourceIP string) (verifyOutput, error) {
	body, err := json.Marshal(server.VerifyRequest{Token: value, Scopes: scopes, SourceIP: sourceIP})
	if err != nil {
		return verifyOutput{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(body))
	if err != nil {
		return verifyOutput{}, fmt.Errorf("ask %s: %w", r.endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.clientToken)
	resp, err := r.client.Do(req)
	if err != nil {
		return verifyOutput{}, fmt.Errorf("ask the server: %w", err) // the error names the URL, never a token
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return verifyOutput{}, fmt.Errorf("read the answer of %s: %w", r.endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &e) // a body that is no RFC 6749 error leaves it empty
		if e.Description == "" {
			e.Description = http.StatusText(resp.StatusCode)
		}
		if loc, err := resp.Location(); err == nil && resp.StatusCode/100 == 3 {
			// Named without credentials or query, which could hold secrets.
			loc.User, loc.RawQuery, loc.Fragment = nil, "", ""
			return verifyOutput{}, fmt.Errorf("the server answered %d, a redirect to %s, which is not followed: give --server the URL of tokenward serve itself", resp.StatusCode, loc)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return verifyOutput{}, fmt.Errorf("the server refused the caller's token (--client-token-file or %s): %s", EnvClientToken, e.Description)
		}
		return verifyOutput{}, fmt.Errorf("the server answered %d: %s", resp.StatusCode, e.Description)
	}
	var v server.VerifyResponse
	if err := json.Unmarshal(raw, &v); err != nil {
		return verifyOutput{}, fmt.Errorf("the answer of %s is not a verify result: %w", r.endpoint, err)
	}
	if v.Code == server.Unavailable {
		return verifyOutput{}, fmt.Errorf("the server has no current snapshot of the store and fails closed (%s): see its /readyz", v.Code)
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	return verifyOutput{Valid: v.Valid, Code: v.Code, Token: v.Token, Version: v.Version, Scopes: v.Scopes,
		ExpiresAt: v.ExpiresAt, Owner: v.Owner, State: v.State, OverlapEndsAt: v.OverlapEndsAt, RetryAfter: v.RetryAfter}, nil
}
