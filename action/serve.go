package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// serve runs the runtime: verification over HTTP from a snapshot of the
// store that follows its changes, until SIGTERM or SIGINT. It opens the
// store for writing when it can and reads a master key when one is given;
// without either it still verifies, and says what is off.
func (c *cli) serve(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("serve")
	listen := fs.String("listen", "127.0.0.1:8420", "address to listen on, host:port (default $TOKENWARD_LISTEN)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain) to serve HTTPS with, read again on SIGHUP (default $TOKENWARD_TLS_CERT)")
	tlsKey := fs.String("tls-key", "", "PEM private key of --tls-cert (default $TOKENWARD_TLS_KEY)")
	issuer := fs.String("issuer", "", "the iss that introspection reports; none when empty (default $TOKENWARD_ISSUER)")
	trusted := &prefixList{}
	fs.Var(trusted, "trusted-proxies", "CIDRs of proxies whose X-Forwarded-For or X-Real-IP name the client, comma separated or repeated (default $TOKENWARD_TRUSTED_PROXIES; none)")
	authzFrom := &prefixList{prefixes: server.DefaultAuthzFrom}
	fs.Var(authzFrom, "authz-from", "CIDRs that may call /v1/authz, comma separated or repeated (default $TOKENWARD_AUTHZ_FROM)")
	metricsFrom := &prefixList{prefixes: server.DefaultMetricsFrom}
	fs.Var(metricsFrom, "metrics-from", "CIDRs whose peers may read /metrics, comma separated or repeated (default $TOKENWARD_METRICS_FROM; this host)")
	maxStale := durationFlag(fs, "max-staleness", server.DefaultMaxStaleness, "how long to answer from the last snapshot while the store is unreachable, then fail closed (default $TOKENWARD_MAX_STALENESS)")
	leakFlags := addLeakFlags(fs)
	configFlags := configServeFlags(fs)
	usage := usageLogFlags(fs)
	det := c.detectFlags(fs)
	streams := streamServeFlags(fs)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	streamOpt, err := streams.option()
	if err != nil {
		return c.fail(exitUsage, "serve: %v", err)
	}
	if *maxStale <= 0 {
		return c.fail(exitUsage, "serve: --max-staleness must be positive, such as 60s")
	}
	if err := usage.check(); err != nil {
		return c.fail(exitUsage, "serve: %v", err)
	}
	if err := c.checkDetect(det); err != nil {
		return c.fail(exitUsage, "serve: %v", err)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return c.fail(exitUsage, "serve: give both --tls-cert and --tls-key (PEM files), or neither")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the certificate once serving (server.Serve); until
	// then, while a big store loads, it must not end the process as it
	// would by default.
	early := make(chan os.Signal, 1)
	signal.Notify(early, syscall.SIGHUP)
	defer signal.Stop(early)
	fixed, err := registry.ClockFromEnv(c.getenv)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	now := running(fixed)
	reg, access, err := registry.OpenServer(ctx, c.config(sf))
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	log := slog.New(slog.NewTextHandler(c.stderr, nil))
	if !access.Writable {
		log.Warn("serving read-only: the usage log, stored alerts (they still reach the log, metrics and webhook), configuration writes and leak responses are off", "why", access.ReadOnlyWhy)
	}
	if !access.Keys {
		log.Warn("serving without a master key: sensitive configuration values and leak rotations are off", "why", access.NoKeyWhy)
	}
	leakOpt, err := c.leakOption(leakFlags, reg, access, log)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	src, err := server.NewSource(ctx, reg.Store(), server.WithMaxStaleness(*maxStale),
		server.WithClock(now), server.WithLogger(log))
	if err != nil {
		return c.fail(exitTrouble, "serve: load the first snapshot of the store: %v", err)
	}
	usageLog := startUsageLog(ctx, usage, reg, access, log)
	detectOpt, stopDetect := startDetect(ctx, det, reg, access, src, log, now)
	defer stopDetect()
	srv := server.New(src, server.WithIssuer(*issuer), server.WithTrustedProxies(trusted.prefixes),
		server.WithAuthzFrom(authzFrom.prefixes), server.WithMetricsFrom(metricsFrom.prefixes), server.WithServerClock(now), server.WithServerLogger(log),
		server.WithRegistryAccess(reg, access), leakOpt, configFlags.option(log, access, *tlsCert != ""),
		usageLog.option(*usage.instance), detectOpt, streamOpt)

	// The source follows the store until the server has stopped.
	srcCtx, stopSource := context.WithCancel(context.WithoutCancel(ctx))
	followed := make(chan error, 1)
	go func() { followed <- src.Run(srcCtx) }()
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	go func() {
		// A source that gives up ends the server: it could only fail closed.
		select {
		case err := <-followed:
			followed <- err
			stopServing()
		case <-serveCtx.Done():
		}
	}()
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	err = server.Serve(serveCtx, server.Config{
		Handler: srv.Handler(), Listen: *listen, TLSCert: *tlsCert, TLSKey: *tlsKey, Logger: log,
		Ready: func(a net.Addr) { fmt.Fprintf(c.stderr, "tokenward: serving on %s://%s\n", scheme, a) },
	})
	stopSource()
	if err := usageLog.close(server.DefaultShutdownTimeout); err != nil {
		log.Error("usage log", "err", err)
	}
	runErr := <-followed
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) && ctx.Err() == nil {
		return c.fail(exitTrouble, "serve: following the store's changes stopped: %v", runErr)
	}
	fmt.Fprintln(c.stderr, "tokenward: stopped")
	return exitOK
}

// durationValue is a duration flag whose error says what it takes.
type durationValue struct{ d *time.Duration }

// durationFlag defines a duration flag.
func durationFlag(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := def
	fs.Var(durationValue{&d}, name, usage)
	return &d
}

func (v durationValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("must be a duration such as 60s or 2m")
	}
	*v.d = d
	return nil
}

// prefixList is a flag of CIDRs, comma separated or repeated; a bare
// address is the network of that one address. The first value given
// replaces the default.
type prefixList struct {
	prefixes []netip.Prefix
	given    bool
}

var _ flag.Value = (*prefixList)(nil)

func (p *prefixList) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(p.prefixes))
	for i, x := range p.prefixes {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (p *prefixList) Set(v string) error {
	if !p.given {
		p.prefixes, p.given = nil, true
	}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		pr, err := parsePrefix(f)
		if err != nil {
			return err
		}
		p.prefixes = append(p.prefixes, pr)
	}
	return nil
}

// parsePrefix parses a CIDR, or an address as the network of that address.
func parsePrefix(s string) (netip.Prefix, error) {
	if pr, err := netip.ParsePrefix(s); err == nil {
		// The server compares addresses unmapped (::ffff:10.0.0.1 is
		// 10.0.0.1), so an IPv4-mapped network would match nothing.
		if pr.Addr().Is4In6() {
			if pr.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%q mixes IPv4-mapped addresses with others: write the IPv4 networks as IPv4, such as 10.0.0.0/8", s)
			}
			return netip.Prefix{}, fmt.Errorf("%q is an IPv4 network written as IPv6: write %s", s,
				netip.PrefixFrom(pr.Addr().Unmap(), pr.Bits()-96).Masked())
		}
		return pr.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32, nor an address", s)
}

// running turns a clock into one that advances: a server runs for a while,
// so TOKENWARD_NOW (a fixed time, for drills) sets where its clock starts
// and real time moves it on. Expiry is then judged at the drill's time while
// staleness and rate limits still measure real elapsed time.
func running(clock func() time.Time) func() time.Time {
	start, t0 := time.Now(), clock()
	return func() time.Time { return t0.Add(time.Since(start)) }
}
