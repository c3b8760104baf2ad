package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

// config get|set|unset --server URL ask a tokenward serve's configuration
// API instead of opening the store, with a caller token (from
// --client-token-file or TOKENWARD_CLIENT_TOKEN, never an argument): an
// operator needs neither the master key nor the store's credentials, and
// the token's scopes (tokenward:config-read-self, ...) say what they may do.

// configRemoteFlags are the flags of the remote form.
type configRemoteFlags struct {
	server, tokenFile *string
}

func remoteConfigFlags(fs *flag.FlagSet) configRemoteFlags {
	return configRemoteFlags{
		server: fs.String("server", "", "use this tokenward serve's configuration API (its https:// base URL) instead of the store; "+
			"the caller's token from --client-token-file or $"+EnvClientToken),
		tokenFile: fs.String("client-token-file", "", "with --server: a file holding the caller's token, which grants tokenward:config-read-self, -write-self (or config-read, -write)"),
	}
}

// configClient calls one server's configuration API.
type configClient struct {
	base   *url.URL
	token  string
	client *http.Client
}

// configClient checks --server and reads the caller's token.
func (c *cli) configClient(f configRemoteFlags) (*configClient, error) {
	u, err := url.Parse(*f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server must be the server's https:// URL, such as https://tokenward.internal:8420")
	}
	if u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("--server must hold no credentials or query: the caller's token goes in --client-token-file or %s", EnvClientToken)
	}
	if err := checkServerScheme(u); err != nil {
		return nil, err
	}
	var tok string
	if *f.tokenFile != "" {
		b, err := os.ReadFile(*f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read --client-token-file: %w", err) // names the path, not the content
		}
		if tok = strings.TrimSpace(string(b)); tok == "" {
			return nil, fmt.Errorf("--client-token-file %s is empty: write the caller's token in it", *f.tokenFile)
		}
	} else {
		tok = strings.TrimSpace(c.getenv(EnvClientToken))
	}
	if tok == "" {
		return nil, fmt.Errorf("--server needs the caller's token, one that grants a tokenward:config-* scope: --client-token-file F or %s", EnvClientToken)
	}
	if c.inWorkflow() {
		c.gha.AddMask(tok)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return &configClient{base: u, token: tok, client: &http.Client{Timeout: 30 * time.Second,
		// A redirect would carry the token, and a body with values, to
		// wherever it points: only the server named is asked.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// remoteError is a refusal of the server; usage says whether it is the
// caller's to fix (a 4xx).
type remoteError struct {
	msg   string
	usage bool
}

func (e *remoteError) Error() string { return e.msg }

// do sends one request; path is already escaped. It decodes a 200 answer
// into out.
func (cc *configClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	target := cc.base.Scheme + "://" + cc.base.Host + cc.base.EscapedPath() + path
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("ask %s: %w", cc.base.Redacted(), err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+cc.token)
	resp, err := cc.client.Do(req)
	if err != nil {
		return fmt.Errorf("ask the server: %w", err) // names the URL, never the token
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read the answer of %s: %w", cc.base.Redacted(), err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("the answer of %s is not the configuration API's: %w", cc.base.Redacted(), err)
		}
		return nil
	}
	var e struct {
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &e) // a body that is no error of the API leaves it empty
	if e.Description == "" {
		e.Description = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode/100 == 3 {
		return &remoteError{msg: fmt.Sprintf("the server answered %d, a redirect, which is not followed: give --server the URL of tokenward serve itself", resp.StatusCode), usage: true}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Description = "the server refused the caller's token (--client-token-file or " + EnvClientToken + "): " + e.Description
	}
	return &remoteError{msg: fmt.Sprintf("the server answered %d: %s", resp.StatusCode, e.Description), usage: resp.StatusCode/100 == 4}
}

func userPath(user string) string { return "/v1/users/" + url.PathEscape(user) + "/config" }

// failRemote turns an error of the remote form into an exit code.
func (c *cli) failRemote(what string, err error) int {
	if re, ok := err.(*remoteError); ok && re.usage {
		return c.fail(exitUsage, "%s: %v", what, err)
	}
	return c.fail(exitTrouble, "%s: %v", what, err)
}

// remoteConfig is the answer of GET /v1/users/{user}/config.
type remoteConfig struct {
	User     string `json:"user"`
	Revision int64  `json:"revision"`
	Values   map[string]struct {
		Value     json.RawMessage `json:"value"`
		Source    string          `json:"source"`
		Sensitive bool            `json:"sensitive"`
	} `json:"values"`
}

// configGetRemote is config get --server.
func (c *cli) configGetRemote(ctx context.Context, f configRemoteFlags, user string, reveal bool) int {
	cc, err := c.configClient(f)
	if err != nil {
		return c.fail(exitUsage, "config get: %v", err)
	}
	var rc remoteConfig
	if err := cc.do(ctx, http.MethodGet, userPath(user), nil, &rc); err != nil {
		return c.failRemote("config get", err)
	}
	out := map[string]effectiveOutput{}
	for k, v := range rc.Values {
		o := effectiveOutput{Value: v.Value, Source: v.Source, Sensitive: v.Sensitive}
		if string(o.Value) == "null" {
			o.Value = nil
		}
		switch {
		case v.Sensitive && !reveal:
			o.Value = nil
		case v.Sensitive && o.Value != nil && c.inWorkflow():
			c.maskValue(o.Value)
		}
		out[k] = o
	}
	return c.printJSON(out)
}

// remoteSetting is what config set needs to know of a setting.
type remoteSetting struct {
	typ       string
	sensitive bool
}

// settings reads the declared settings, by key; nil when the caller
// may not list them.
func (cc *configClient) settings(ctx context.Context) map[string]remoteSetting {
	var list struct {
		Settings []struct {
			Key       string `json:"key"`
			Type      string `json:"type"`
			Sensitive bool   `json:"sensitive"`
		} `json:"settings"`
	}
	if cc.do(ctx, http.MethodGet, "/v1/settings", nil, &list) != nil {
		return nil
	}
	out := map[string]remoteSetting{}
	for _, s := range list.Settings {
		out[s.Key] = remoteSetting{s.Type, s.Sensitive}
	}
	return out
}

// configSetRemote is config set --server: the values in one PATCH. argKeys
// are the keys given as KEY=VALUE arguments; inputKey the one key whose
// value is text (from --stdin or --file), if any.
func (c *cli) configSetRemote(ctx context.Context, f configRemoteFlags, user string, set map[string]json.RawMessage, argKeys []string, inputKey, inputName string, text []byte) int {
	cc, err := c.configClient(f)
	if err != nil {
		return c.fail(exitUsage, "config set: %v", err)
	}
	specs := cc.settings(ctx)
	if specs == nil && len(argKeys) > 0 {
		// Fail closed: without the list, a sensitive value given as an
		// argument could not be told apart.
		return c.fail(exitTrouble, "config set: the server's settings could not be listed (GET /v1/settings), so it cannot be checked that none of %s is sensitive; "+
			"give the caller's token a tokenward:config-read scope, or pass the value on standard input: tokenward config set --server URL --user %s --stdin KEY < FILE",
			strings.Join(argKeys, ", "), user)
	}
	for _, k := range argKeys {
		if specs[k].sensitive {
			return c.fail(exitUsage, "config set: %s is a sensitive setting: its value must not be an argument, where other users and the shell history can read it; "+
				"pass it on standard input: tokenward config set --server URL --user %s --stdin %s < FILE", k, user, k)
		}
	}
	if inputKey != "" {
		v := strings.TrimSuffix(strings.TrimSuffix(string(text), "\n"), "\r")
		switch spec, known := specs[inputKey]; {
		case !known:
			set[inputKey] = argValue(v) // an unknown key is reported by the server
		case spec.typ == "string":
			b, _ := json.Marshal(v)
			set[inputKey] = b
		case !json.Valid([]byte(v)):
			return c.fail(exitUsage, "config set: %s does not hold a JSON value for %s, a %s setting", inputName, inputKey, spec.typ)
		default:
			set[inputKey] = json.RawMessage(v)
		}
	}
	return c.patchRemote(ctx, cc, "config set", user, set, nil)
}

// configUnsetRemote is config unset --server.
func (c *cli) configUnsetRemote(ctx context.Context, f configRemoteFlags, user string, keys []string) int {
	cc, err := c.configClient(f)
	if err != nil {
		return c.fail(exitUsage, "config unset: %v", err)
	}
	return c.patchRemote(ctx, cc, "config unset", user, nil, keys)
}

// patchRemote sends one PATCH: the values to set, null for the keys to
// unset, applied in one transaction.
func (c *cli) patchRemote(ctx context.Context, cc *configClient, what, user string, set map[string]json.RawMessage, unset []string) int {
	body := map[string]json.RawMessage{}
	for k, v := range set {
		body[k] = v
	}
	for _, k := range unset {
		body[k] = json.RawMessage("null")
	}
	var res struct {
		Revision int64 `json:"revision"`
	}
	if err := cc.do(ctx, http.MethodPatch, userPath(user), body, &res); err != nil {
		return c.failRemote(what, err)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		fmt.Fprintf(c.stdout, "set %s for user %s (revision %d)\n", strings.Join(keys, ", "), user, res.Revision)
	}
	if len(unset) > 0 {
		fmt.Fprintf(c.stdout, "unset %s for user %s (revision %d)\n", strings.Join(unset, ", "), user, res.Revision)
	}
	return exitOK
}
