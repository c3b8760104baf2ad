//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// BenchmarkRotate rotates due tokens, each delivered to a repository secret
// in one of 50 repositories, with the real tokenward binary against the fake
// GitHub with added latency per request and pacing off. It reports GitHub
// requests per rotated token, the run's wall time against the ideal
// (requests × latency, as if tokenward itself took no time), and the peak
// memory of the tokenward process. Run it with bench/rotate.sh.
func BenchmarkRotate(b *testing.B) {
	for _, bc := range []struct {
		tokens  int
		latency time.Duration
	}{
		{1000, 20 * time.Millisecond},
		{10000, 0}, // memory at ten times the tokens; latency would only make it slow
	} {
		b.Run(fmt.Sprintf("tokens=%d/latency=%s", bc.tokens, bc.latency), func(b *testing.B) {
			if testing.Short() && bc.tokens > 1000 {
				b.Skip("-short: 1,000 tokens only")
			}
			for range b.N {
				benchRotate(b, bc.tokens, bc.latency)
			}
		})
	}
}

func benchRotate(b *testing.B, n int, latency time.Duration) {
	b.StopTimer()
	ctx := b.Context()
	dir := b.TempDir()
	bin := filepath.Join(dir, "tokenward")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build tokenward: %v\n%s", err, out)
	}
	env := registrytest.Env(b, filepath.Join(dir, "tokenward.db"))
	env["TOKENWARD_NOW"] = "2026-11-27T09:00:00Z"
	gh := registrytest.GitHub(b, env, "ghs_bench")
	const repos = 50
	for i := range repos {
		gh.AddRepo(fmt.Sprintf("acme/repo-%02d", i))
	}
	getenv := func(k string) string { return env[k] }
	reg, err := registry.Open(ctx, registry.Config{Getenv: getenv, Create: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := reg.CreateScope(ctx, "billing:read", ""); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		d, err := destination.New(destination.KindRepositorySecret, destination.Config{
			Repository: fmt.Sprintf("acme/repo-%02d", i%repos), Name: fmt.Sprintf("TOKEN_%05d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: fmt.Sprintf("token-%05d", i), Scopes: []string{"billing:read"},
			Lifetime:     store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour},
			Destinations: []store.Destination{d}}); err != nil {
			b.Fatal(err)
		}
	}
	writer, err := githubWriter(getenv)
	if err != nil {
		b.Fatal(err)
	}
	rep, err := rotation.New(reg, destination.NewRouter(writer)).Run(ctx, rotation.RunOptions{})
	if err != nil || rep.Rotated() != n {
		b.Fatalf("issue the first versions: %v, %d rotated", err, rep.Rotated())
	}
	reg.Close()

	gh.SetLatency(latency)
	before := gh.Requests()
	cmd := exec.CommandContext(ctx, bin, "rotate", "--workers", envOr("BENCH_WORKERS", "4"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "TOKENWARD_NOW=2026-12-21T09:00:00Z")
	b.StartTimer()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("tokenward rotate: %v\n%s", err, out)
	}
	requests := gh.Requests() - before
	peak := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024 // KiB on Linux
	b.ReportMetric(float64(requests)/float64(n), "requests/token")
	b.ReportMetric(peak, "peak-MiB")
	if latency > 0 {
		ideal := time.Duration(requests) * latency
		b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
