package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"ledger/handlers"
)

const serveSynopsis = "serve [flags]"

// runServe parses the configuration and serves until ctx ends (SIGINT/SIGTERM).
func runServe(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	var cfg Config
	if err := parseSettings("serve", serveSynopsis, serveSettings(&cfg), args, env, stdout); err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	slog.SetDefault(logger)
	return serve(ctx, cfg, logger)
}

func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
	secret, err := jwtSecret(cfg)
	if err != nil {
		return err
	}
	proc, err := wire(ctx, cfg, logger, secret)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// SIGINT/SIGTERM during start-up is a request to stop, not a failure.
			logger.Info("stopped during start-up")
			return nil
		}
		return err
	}
	defer func() {
		if err := proc.close(); err != nil {
			logger.Error("closing", "error", err)
		}
	}()
	if err := proc.deps.Validate(); err != nil {
		return err
	}
	if cfg.PprofAddr != "" {
		stopProfiler, err := startProfiler(cfg.PprofAddr, logger)
		if err != nil {
			return err
		}
		defer stopProfiler()
	}
	srv := newHTTPServer(cfg, proc.httpHandler(), logger)
	ln, err := listenAPI(cfg, proc)
	if err != nil {
		return err
	}
	logger.Info("listening", "addr", ln.Addr().String(), "role", cfg.Role, "data_dir", cfg.DataDir,
		"event_store", cfg.EventStore.Backend, "read_db", cfg.ReadDB.Backend)

	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	var bg sync.WaitGroup
	bgErr := make(chan error, len(proc.background))
	for _, run := range proc.background {
		bg.Go(func() {
			if err := run(bgCtx); err != nil && !errors.Is(err, context.Canceled) {
				bgErr <- err
			}
		})
	}
	err = serveUntilDone(ctx, srv, ln, cfg.ShutdownTimeout, logger, bgErr)
	// HTTP has drained: no command is in flight. Now stop the background work, which
	// finishes its current batch and returns.
	stopBackground()
	bg.Wait()
	logger.Info("stopped")
	return err
}

// listenAPI is the API's listener on --addr, holding at most --max-connections open.
func listenAPI(cfg Config, proc *process) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --addr %s: %w", cfg.Addr, err)
	}
	if cfg.MaxConnections == 0 {
		return ln, nil
	}
	refused := func() { proc.metrics.ObserveRejected(handlers.LoadClassConnection, handlers.RejectScopeProcess) }
	return handlers.BoundConnections(ln, cfg.MaxConnections, cfg.Limits.RetryAfter, refused), nil
}

// maxHeaderWait bounds reading a request's headers, whatever --read-timeout allows for
// its body.
const maxHeaderWait = 10 * time.Second

// newHTTPServer is serve's HTTP server with cfg's timeouts. Without a write timeout a
// client that never reads its answer holds the connection, its goroutine and the
// encoded answer for ever; with one, the write fails at the deadline, the connection is
// closed and all of it is released. Zero durations mean no timeout (tests).
func newHTTPServer(cfg Config, h http.Handler, logger *slog.Logger) *http.Server {
	header := maxHeaderWait
	if cfg.ReadTimeout > 0 {
		header = min(header, cfg.ReadTimeout)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: header,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveUntilDone serves on ln until ctx ends or background work fails, then shuts down
// gracefully: stop accepting, let in-flight requests finish within timeout.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration, logger *slog.Logger, failed <-chan error) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var cause error
	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case cause = <-failed:
		logger.Error("background work failed; shutting down", "error", cause)
	case <-ctx.Done():
		logger.Info("shutting down: draining in-flight requests", "timeout", timeout)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return errors.Join(cause, fmt.Errorf("in-flight requests did not finish within --shutdown-timeout %s: %w", timeout, err))
	}
	<-served // http.ErrServerClosed
	return cause
}
