package main

import (
	"errors"
	"flag"
	"log/slog"
	"strconv"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// serveConfigFlags are tokenward serve's flags of the configuration API.
type serveConfigFlags struct {
	insecure   *bool
	cacheUsers *int
}

// configServeFlags defines them on serve's flag set.
func configServeFlags(fs *flag.FlagSet) *serveConfigFlags {
	f := &serveConfigFlags{
		insecure: fs.Bool("insecure-config-api", false,
			"let the configuration API (/v1/users/{user}/config, /v1/settings) answer over plain HTTP; for loopback tests only: it carries users' configuration and callers' tokens"),
	}
	n := server.DefaultConfigCacheUsers
	f.cacheUsers = &n
	fs.Var(positiveInt{&n}, "config-cache-users", "how many users' effective configuration to keep in memory for the configuration API (default 16384)")
	return f
}

// positiveInt is a flag of a whole number above zero.
type positiveInt struct{ n *int }

func (p positiveInt) String() string {
	if p.n == nil {
		return ""
	}
	return strconv.Itoa(*p.n)
}

func (p positiveInt) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return errors.New("must be a whole number above zero, such as 16384")
	}
	*p.n = n
	return nil
}

// option is the server's option for the flags; it says at start what the
// configuration API cannot do.
func (f *serveConfigFlags) option(log *slog.Logger, access registry.ServeAccess, tls bool) server.Option {
	if !tls && !*f.insecure {
		log.Info("the configuration API answers only over TLS: give --tls-cert and --tls-key (or --insecure-config-api on loopback)")
	}
	if !tls && *f.insecure {
		log.Warn("the configuration API answers over plain HTTP (--insecure-config-api): callers' tokens and users' configuration cross the network in the clear")
	}
	if !access.Keys {
		log.Warn("config_api: no master key: sensitive values are served sealed (null), and reading or writing one answers 503", "why", access.NoKeyWhy)
	}
	opts := []server.Option{server.WithInsecureConfigAPI(*f.insecure), server.WithConfigCacheUsers(*f.cacheUsers)}
	return func(s *server.Server) {
		for _, o := range opts {
			o(s)
		}
	}
}
