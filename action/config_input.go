package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// maxValuesInput bounds what config set reads from stdin or a file.
const maxValuesInput = 1 << 20

// valuesInput is where config set reads values from besides its arguments:
// standard input (--stdin) or a file (--file), so that a secret is never on
// the command line, where other users (ps, /proc) and the shell history see
// it.
type valuesInput struct {
	name string // "standard input" or the file's path, for messages
	r    io.Reader
}

// openValuesInput returns the input --stdin or --file names; ok is false
// when neither is given.
func (c *cli) openValuesInput(stdin bool, file string) (in valuesInput, closeIt func(), ok bool, err error) {
	switch {
	case stdin && file != "":
		return in, nil, false, errors.New("give --stdin or --file, not both")
	case stdin:
		return valuesInput{name: "standard input", r: c.stdin}, func() {}, true, nil
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return in, nil, false, fmt.Errorf("read values: %w", err)
		}
		return valuesInput{name: file, r: f}, func() { f.Close() }, true, nil
	}
	return in, nil, false, nil
}

func (in valuesInput) read() ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(in.r, maxValuesInput+1))
	if err != nil {
		return nil, fmt.Errorf("read values from %s: %w", in.name, err)
	}
	if len(b) > maxValuesInput {
		return nil, fmt.Errorf("%s holds more than %d bytes of values", in.name, maxValuesInput)
	}
	return b, nil
}

// argValue is a value given as text: JSON when it is valid JSON, else a
// plain string (theme=dark means "dark").
func argValue(v string) json.RawMessage {
	if json.Valid([]byte(v)) {
		return json.RawMessage(v)
	}
	b, _ := json.Marshal(v)
	return b
}

// parseValues reads a document of values: a JSON object, or dotenv lines
// KEY=VALUE (# comments, blank lines and an "export " prefix allowed; VALUE
// is read as on the command line, and 'single quotes' keep it a plain
// string). Errors name a line or an offset, never a value.
func parseValues(name string, doc []byte) (map[string]json.RawMessage, error) {
	if trimmed := bytes.TrimSpace(doc); len(trimmed) > 0 && trimmed[0] == '{' {
		var set map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &set); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("%s is not a valid JSON object (at byte %d)", name, se.Offset)
			}
			return nil, fmt.Errorf("%s is not a JSON object of values", name)
		}
		return set, nil
	}
	set := map[string]json.RawMessage{}
	for i, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s line %d is not KEY=VALUE", name, i+1)
		}
		if _, dup := set[k]; dup {
			return nil, fmt.Errorf("%s line %d sets %s again", name, i+1, k)
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			b, _ := json.Marshal(v[1 : len(v)-1])
			set[k] = b
			continue
		}
		set[k] = argValue(v)
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("%s holds no values: write KEY=VALUE lines or a JSON object", name)
	}
	return set, nil
}

// inputValue is the value of one key read whole from stdin or a file: the
// text itself for a string setting (so a password of digits stays a
// string), JSON for the others. One final line break is dropped.
func inputValue(ctx context.Context, reg *registry.Registry, name, key string, text []byte) (json.RawMessage, error) {
	v := strings.TrimSuffix(strings.TrimSuffix(string(text), "\n"), "\r")
	spec, err := reg.Setting(ctx, key)
	if err != nil {
		// An unknown key is reported by the update, like any other.
		return argValue(v), nil
	}
	if spec.Type == "string" {
		b, _ := json.Marshal(v)
		return b, nil
	}
	if !json.Valid([]byte(v)) {
		return nil, fmt.Errorf("%s does not hold a JSON value for %s, a %s setting", name, key, spec.Type)
	}
	return json.RawMessage(v), nil
}

// refuseSensitiveArgs refuses a sensitive setting's value given as an
// argument: by then it is in the process list and perhaps the shell
// history, so the error says how to pass it and never repeats it.
func refuseSensitiveArgs(ctx context.Context, reg *registry.Registry, user string, keys []string) error {
	for _, k := range keys {
		spec, err := reg.Setting(ctx, k)
		if err != nil || !spec.Sensitive {
			continue // an unknown key is reported by the update
		}
		return fmt.Errorf("%s is a sensitive setting: its value must not be an argument, where other users and the shell history can read it; "+
			"pass it on standard input: tokenward config set --user %s --stdin %s < FILE (or --file FILE, or a KEY=VALUE or JSON document on --stdin)",
			k, user, k)
	}
	return nil
}
