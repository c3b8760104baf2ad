// Command config-app is an example application of tokenward's configuration
// API: it reads a user's configuration when it starts, follows the user's
// events stream and prints each change, reconnecting with Last-Event-ID so
// that it misses none. It uses the standard library only.
//
//	TOKENWARD_CLIENT_TOKEN=tw_... go run ./examples/config-app --server https://127.0.0.1:8420 --user alice
//
// The token needs tokenward:config-read (or tokenward:config-read-self on a
// token alice owns). The README's "Configuration pushed to applications"
// shows the whole flow.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "config-app:", err)
		os.Exit(1)
	}
}

// run parses the flags and follows the user's configuration until ctx
// ends or the server refuses the token.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("config-app", flag.ContinueOnError)
	server := fs.String("server", "http://127.0.0.1:8420", "tokenward serve's URL")
	user := fs.String("user", "", "whose configuration to follow")
	tokenFile := fs.String("token-file", "", "file holding the caller token, alone or as a TOKENWARD_CLIENT_TOKEN=... line (default $TOKENWARD_CLIENT_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tok := strings.TrimSpace(getenv("TOKENWARD_CLIENT_TOKEN"))
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("read --token-file: %w", err)
		}
		tok = tokenIn(string(b))
	}
	switch {
	case *user == "":
		return errors.New("give --user, the user whose configuration to follow")
	case tok == "":
		return errors.New("give the caller token in $TOKENWARD_CLIENT_TOKEN or --token-file")
	}
	a := &app{base: strings.TrimSuffix(*server, "/"), user: *user, token: tok, out: out, client: &http.Client{}}
	return a.follow(ctx)
}

// tokenIn is the token a file holds: the whole file, or the value of its
// TOKENWARD_CLIENT_TOKEN=... line, as a tokenward_token's files
// destination writes it.
func tokenIn(file string) string {
	for _, line := range strings.Split(file, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && strings.TrimPrefix(k, "export ") == "TOKENWARD_CLIENT_TOKEN" {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return strings.TrimSpace(file)
}

// app follows one user's configuration.
type app struct {
	base, user, token string
	client            *http.Client
	out               io.Writer
}

// config is the answer of GET /v1/users/{user}/config.
type config struct {
	Revision int64 `json:"revision"`
	Values   map[string]struct {
		Value  json.RawMessage `json:"value"`
		Source string          `json:"source"`
	} `json:"values"`
}

// refused is an answer the app must not retry: the token does not grant
// the user's configuration.
type refused struct{ status, body string }

func (e *refused) Error() string { return "the server refused: " + e.status + ": " + e.body }

func (a *app) get(ctx context.Context, path string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		err := fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			err = &refused{resp.Status, strings.TrimSpace(string(b))}
		}
		return nil, err
	}
	return resp, nil
}

// readAt reads the configuration once it is at revision rev or later, and
// prints keys. Behind a load balancer the read may reach an instance that
// has not yet seen the change its event announced: it is read again, a few
// times, before the older answer is printed.
func (a *app) readAt(ctx context.Context, rev int64, keys []string) error {
	for try := 0; ; try++ {
		c, err := a.fetch(ctx)
		if err != nil {
			return err
		}
		if c.Revision >= rev || try == 10 {
			a.print(c, keys)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// read reads the configuration and prints every key.
func (a *app) read(ctx context.Context) (int64, error) {
	c, err := a.fetch(ctx)
	if err != nil {
		return 0, err
	}
	a.print(c, nil)
	return c.Revision, nil
}

func (a *app) fetch(ctx context.Context) (config, error) {
	var c config
	resp, err := a.get(ctx, "/v1/users/"+url.PathEscape(a.user)+"/config", nil)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return c, fmt.Errorf("read the configuration: %w", err)
	}
	return c, nil
}

// print prints the keys asked for (all when none).
func (a *app) print(c config, keys []string) {
	if len(keys) == 0 {
		for k := range c.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	for _, k := range keys {
		v, ok := c.Values[k]
		if !ok {
			fmt.Fprintf(a.out, "revision %d: %s removed\n", c.Revision, k)
			continue
		}
		fmt.Fprintf(a.out, "revision %d: %s = %s (%s)\n", c.Revision, k, v.Value, v.Source)
	}
}

// follow reads the configuration, then its changes, reconnecting after a
// lost stream from the last event seen.
func (a *app) follow(ctx context.Context) error {
	last, err := a.read(ctx)
	if err != nil {
		return err
	}
	wait := time.Second
	for ctx.Err() == nil {
		// The revision read or the last event's id: the server sends
		// every change after it, or a gap event when it is too old.
		n, err := a.stream(ctx, &last)
		var r *refused
		switch {
		case errors.As(err, &r):
			return err
		case err != nil && ctx.Err() == nil:
			fmt.Fprintf(a.out, "stream lost (%v); reconnecting in %v\n", err, wait)
		}
		if n > 0 {
			wait = time.Second
		} else {
			wait = min(2*wait, 30*time.Second)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return ctx.Err()
}

// stream follows one connection of the events stream from *last, and
// returns how many events it got.
func (a *app) stream(ctx context.Context, last *int64) (int, error) {
	resp, err := a.get(ctx, "/v1/users/"+url.PathEscape(a.user)+"/events",
		map[string]string{"Accept": "text/event-stream", "Last-Event-ID": strconv.FormatInt(*last, 10)})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n := 0
	var id, event, data string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		field, value, _ := strings.Cut(sc.Text(), ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "event":
			event = value
		case "data":
			data += value
		case "": // a blank line ends an event; a comment is a keep-alive
			if event == "" && data == "" {
				continue
			}
			n++
			if err := a.handle(ctx, event, data); err != nil {
				return n, err
			}
			if v, err := strconv.ParseInt(id, 10, 64); err == nil {
				*last = v
			}
			id, event, data = "", "", ""
		}
	}
	if err := sc.Err(); err != nil {
		return n, err
	}
	return n, errors.New("the server closed the stream")
}

// handle acts on one event.
func (a *app) handle(ctx context.Context, event, data string) error {
	var d struct {
		Revision int64    `json:"revision"`
		Keys     []string `json:"keys"`
		Reason   string   `json:"reason"`
	}
	_ = json.Unmarshal([]byte(data), &d) // an event without fields is handled by its name
	switch event {
	case "change":
		return a.readAt(ctx, d.Revision, d.Keys)
	case "gap":
		fmt.Fprintln(a.out, "missed too many changes: reading the whole configuration again")
		_, err := a.read(ctx)
		return err
	case "shutdown":
		fmt.Fprintln(a.out, "the server is stopping:", d.Reason)
	case "denied":
		return &refused{"stream ended", d.Reason}
	}
	return nil
}
