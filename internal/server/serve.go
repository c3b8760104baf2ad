package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// Config is how Serve runs a handler.
type Config struct {
	Handler http.Handler
	// Listen is the address to listen on, such as 127.0.0.1:8420; ignored
	// when Listener is set.
	Listen   string
	Listener net.Listener
	// TLSCert and TLSKey are PEM files; both or neither. They are read again
	// on SIGHUP (or a value on Reload); a pair that does not load keeps the
	// one in use, and the log says why.
	TLSCert, TLSKey string
	// Reload asks for the certificate to be read again, beside SIGHUP.
	Reload <-chan struct{}
	// ShutdownTimeout bounds how long requests in flight may take to finish
	// once ctx ends; the default is DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Ready, if set, is called with the address once the server listens.
	Ready  func(net.Addr)
	Logger *slog.Logger
}

// Timeouts of the http.Server. Each route bounds its own body and answer
// too (see Server.route).
const (
	DefaultShutdownTimeout = 10 * time.Second
	readHeaderTimeout      = 5 * time.Second
	readTimeout            = 15 * time.Second
	writeTimeout           = 15 * time.Second
	idleTimeout            = 2 * time.Minute
)

// Serve serves cfg.Handler until ctx ends, then stops accepting, lets the
// requests in flight finish within cfg.ShutdownTimeout and returns. It
// returns an error if it cannot listen, load the first certificate, or
// finish in time.
func Serve(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("serve: give both --tls-cert and --tls-key, or neither")
	}
	// Shutdown waits for handlers but does not end them: a stream learns of
	// it from its request's context (shuttingDown) and ends.
	stopping := make(chan struct{})
	base := context.WithValue(context.WithoutCancel(ctx), shutdownKey{}, (<-chan struct{})(stopping))
	srv := &http.Server{
		Handler:           cfg.Handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	var certs *certificate
	if cfg.TLSCert != "" {
		var err error
		if certs, err = loadCertificate(cfg.TLSCert, cfg.TLSKey); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("serve: listen on %s (--listen): %w", cfg.Listen, err)
		}
	}
	stopReload := watchReload(certs, cfg.Reload, log)
	defer stopReload()

	served := make(chan error, 1)
	go func() {
		if certs != nil {
			// The certificate comes from GetCertificate; ServeTLS adds
			// HTTP/2 to what the listener offers.
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()
	log.Info("serving", "addr", ln.Addr().String(), "tls", certs != nil)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	log.Info("shutting down: no new connections; waiting for requests in flight", "bound", timeout.String())
	close(stopping)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("serve: requests still in flight after %s were cut: %w", timeout, err)
	}
	<-served // http.ErrServerClosed
	return nil
}

// certificate is the TLS certificate in use, read again on request.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the pair again; on an error the one in use stays.
func (c *certificate) reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load the TLS certificate %s and key %s (--tls-cert, --tls-key): %w", c.certFile, c.keyFile, err)
	}
	c.current.Store(&pair)
	return nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// watchReload reloads certs on SIGHUP or a value on reload, until the
// returned stop is called. Without certs SIGHUP is still taken, so it does
// not end the process.
func watchReload(certs *certificate, reload <-chan struct{}, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
			case <-reload:
			}
			if certs == nil {
				log.Info("reload asked: no TLS certificate to read again")
				continue
			}
			if err := certs.reload(); err != nil {
				log.Error("TLS certificate not reloaded; the one in use stays", "err", err)
				continue
			}
			log.Info("TLS certificate reloaded", "cert", certs.certFile)
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}
