// Command sse benchmarks the configuration's event streams (issue 15): one
// server process (this program, re-run with -serve, the way tokenward serve
// builds its server) on a SQLite store holds N streams of N users, opened
// by this process over loopback. It reports the server's resident memory
// with no stream and with N open, how long a default's change (as a
// Terraform apply makes it) takes to reach every stream, and how long the
// server takes to shut down with them open.
//
//	go run ./bench/sse                 # -streams 1000 -rounds 5
//	bench/sse.sh                       # the same, built first
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

func main() {
	serve := flag.Bool("serve", false, "run as the server on -store (internal)")
	dsn := flag.String("store", "", "the server's store (internal)")
	streams := flag.Int("streams", 1000, "how many streams to open (one per user)")
	rounds := flag.Int("rounds", 5, "how many changes to fan out")
	flag.Parse()
	var err error
	if *serve {
		err = runServer(*dsn)
	} else {
		err = bench(*streams, *rounds)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sse:", err)
		os.Exit(1)
	}
}

// runServer serves the store on a loopback port it prints, until SIGTERM.
func runServer(dsn string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := registry.New(st, nil)
	src, err := server.NewSource(ctx, st)
	if err != nil {
		return err
	}
	sctx, stopSource := context.WithCancel(context.Background())
	defer stopSource()
	go src.Run(sctx)
	srv := server.New(src, server.WithRegistryAccess(reg, registry.ServeAccess{Writable: true}), server.WithInsecureConfigAPI(true))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	return server.Serve(ctx, server.Config{Handler: srv.Handler(), Listener: ln,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
}

// bench sets a store up, starts the server on it and measures.
func bench(n, rounds int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tokenward-sse-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dsn := filepath.Join(dir, "tokenward.db")
	st, err := store.Open(ctx, dsn, store.Create())
	if err != nil {
		return err
	}
	defer st.Close()
	reg := registry.New(st, nil, registry.WithActor("bench"))
	setting := registry.SettingSpec{Key: "ui.theme", Type: "string", Default: json.RawMessage(`"light"`), UserEditable: true}
	if err := reg.CreateSetting(ctx, setting); err != nil {
		return err
	}
	lifetime := store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: time.Hour}
	if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: "app", Owner: "bench", Scopes: []string{registry.ScopeConfigRead}, Lifetime: lifetime}); err != nil {
		return err
	}
	issued, err := reg.IssueFirst(ctx, "app")
	if err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-serve", "-store", dsn)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("the server did not start: %w", err)
	}
	base := "http://" + strings.TrimSpace(line)
	if err := ready(base); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	idle, err := rssMiB(pid)
	if err != nil {
		return err
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}}
	got := make(chan received, n*4)
	var wg sync.WaitGroup
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opened := time.Now()
	for i := range n {
		opening := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			follow(sctx, client, base+"/v1/users/user"+strconv.Itoa(i)+"/events", issued.Value, i, opening, got)
		}()
		if err := <-opening; err != nil {
			return fmt.Errorf("open stream %d: %w", i, err)
		}
	}
	fmt.Printf("opened %d streams in %v\n", n, time.Since(opened).Round(time.Millisecond))
	if open, err := metric(base, "tokenward_config_streams_open"); err != nil || open != float64(n) {
		return fmt.Errorf("the server reports %v streams open (%v), want %d", open, err, n)
	}
	// Let the server's goroutines and buffers settle before measuring.
	time.Sleep(2 * time.Second)
	busy, err := rssMiB(pid)
	if err != nil {
		return err
	}
	fmt.Printf("server RSS: %.1f MiB with no stream, %.1f MiB with %d open (+%.1f MiB, %.1f KiB a stream); goal: within 100 MiB\n",
		idle, busy, n, busy-idle, (busy-idle)*1024/float64(n))

	var alls, spreads []time.Duration
	for r := range rounds {
		setting.Default = json.RawMessage(strconv.Quote("theme-" + strconv.Itoa(r)))
		start := time.Now()
		if err := reg.UpdateSetting(ctx, setting); err != nil {
			return err
		}
		_, head, err := reg.ConfigChangeWindow(ctx)
		if err != nil {
			return err
		}
		seen := map[int]time.Time{}
		deadline := time.After(30 * time.Second)
		for len(seen) < n {
			select {
			case ev := <-got:
				if ev.seq == head {
					seen[ev.stream] = ev.at
				}
			case <-deadline:
				return fmt.Errorf("round %d: %d of %d streams got the change within 30s", r+1, len(seen), n)
			}
		}
		var lat []time.Duration
		for _, at := range seen {
			lat = append(lat, at.Sub(start))
		}
		slices.Sort(lat)
		alls = append(alls, lat[len(lat)-1])
		spreads = append(spreads, lat[len(lat)-1]-lat[0])
		fmt.Printf("round %d: the change reached the first stream after %v, the median after %v, all %d after %v (first to last %v)\n",
			r+1, lat[0].Round(time.Microsecond), lat[len(lat)/2].Round(time.Microsecond), n, lat[len(lat)-1].Round(time.Microsecond),
			(lat[len(lat)-1] - lat[0]).Round(time.Microsecond))
	}
	slices.Sort(alls)
	slices.Sort(spreads)
	fmt.Printf("fan-out to %d streams over %d rounds: all reached after a median of %v (max %v); first to last stream a median of %v\n",
		n, rounds, alls[len(alls)/2].Round(time.Microsecond), alls[len(alls)-1].Round(time.Microsecond), spreads[len(spreads)/2].Round(time.Microsecond))

	stopAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			return fmt.Errorf("the server's shutdown: %w", err)
		}
	case <-time.After(30 * time.Second):
		return errors.New("the server did not stop within 30s of SIGTERM")
	}
	fmt.Printf("shutdown with %d streams open: %v\n", n, time.Since(stopAt).Round(time.Millisecond))
	cancel()
	wg.Wait()
	fmt.Printf("(%s, %s/%s, %d CPUs, GOMAXPROCS %d)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	return nil
}

// received is a change event one stream got.
type received struct {
	stream int
	seq    int64
	at     time.Time
}

// follow holds one stream open, reporting its opening on opening and each
// change event on got, until ctx ends or the server closes it.
func follow(ctx context.Context, client *http.Client, url, tok string, i int, opening chan<- error, got chan<- received) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		opening <- err
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		opening <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		opening <- fmt.Errorf("%s: %s", resp.Status, b)
		return
	}
	opening <- nil
	sc := bufio.NewScanner(resp.Body)
	var id int64
	for sc.Scan() {
		field, value, _ := strings.Cut(sc.Text(), ":")
		switch field {
		case "id":
			id, _ = strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		case "data":
			got <- received{stream: i, seq: id, at: time.Now()}
		}
	}
}

// ready waits for the server's /readyz.
func ready(base string) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("the server was not ready within 30s")
}

// rssMiB is a process's resident memory.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// metric reads one unlabelled metric of the server's /metrics.
func metric(base, name string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}
