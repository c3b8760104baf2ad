package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

var engines *storetest.Engines

// TestMain runs the tokenward command itself when a test starts this binary
// as a child process, so tests can run several real processes at once.
func TestMain(m *testing.M) {
	if os.Getenv("TOKENWARD_TEST_AS_BINARY") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	storetest.Main(m, &engines)
}

func TestTwoRotateProcessesRotateEachTokenOnce(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			env := registrytest.Env(t, engines.DSN(t, engine))
			env["TOKENWARD_NOW"] = "2026-11-27T09:00:00Z"
			reg, err := registry.Open(ctx, registry.Config{Getenv: func(k string) string { return env[k] }, Create: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reg.CreateScope(ctx, "billing:read", ""); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			const n = 20
			for i := range n {
				name := fmt.Sprintf("token-%02d", i)
				d, err := destination.New(destination.KindFile, destination.Config{Path: filepath.Join(dir, name+".env"), Key: "TOKEN", Format: destination.FormatDotenv})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: name, Scopes: []string{"billing:read"},
					Lifetime:     store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour},
					Destinations: []store.Destination{d}}); err != nil {
					t.Fatal(err)
				}
				if _, err := rotation.New(reg, destination.NewRouter(nil)).Rotate(ctx, name); err != nil {
					t.Fatal(err)
				}
			}
			reg.Close()

			env["TOKENWARD_NOW"] = "2026-12-21T09:00:00Z"
			env["TOKENWARD_TEST_AS_BINARY"] = "1"
			var wg sync.WaitGroup
			outs := make([]bytes.Buffer, 2)
			errs := make([]error, 2)
			for i := range 2 {
				cmd := exec.CommandContext(ctx, os.Args[0], "rotate")
				cmd.Env = os.Environ()
				for k, v := range env {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = cmd.Run()
				}()
			}
			wg.Wait()
			rotated := 0
			summary := regexp.MustCompile(`(\d+) rotated, 0 failed`)
			for i := range 2 {
				if errs[i] != nil {
					t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i].String())
				}
				m := summary.FindStringSubmatch(outs[i].String())
				if m == nil {
					t.Fatalf("process %d printed no summary:\n%s", i, outs[i].String())
				}
				k, _ := strconv.Atoi(m[1])
				rotated += k
			}
			if rotated != n {
				t.Fatalf("the two processes rotated %d tokens together, want %d:\n%s\n%s", rotated, n, outs[0].String(), outs[1].String())
			}
			st, err := store.Open(ctx, env["TOKENWARD_STORE"])
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			events, err := st.AuditEvents(ctx, 0, 100000)
			if err != nil {
				t.Fatal(err)
			}
			finishes := map[string]int{}
			for _, e := range events {
				if e.Action == "rotation.finish" {
					finishes[e.Subject]++
				}
			}
			for i := range n {
				// One finish issued the first version, one rotated it.
				if c := finishes[fmt.Sprintf("token/token-%02d", i)]; c != 2 {
					t.Fatalf("token-%02d finished %d times, want 2", i, c)
				}
			}
		})
	}
}
