// Package natsbus is the fan-out leg of the ledger: an in-process NATS server with
// JetStream for the embedded default, a client connection for an external server, the
// JetStream stream of events, the wire format of one forwarded event, and the forwarder
// that copies the event store's global log into that stream.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configures the in-process server.
type EmbeddedOptions struct {
	// StoreDir holds JetStream's files; required, so that events survive a restart.
	StoreDir string
	// Port is the client port on 127.0.0.1; 0 picks a free one.
	Port int
	// Logger receives the server's log lines; nil means slog.Default().
	Logger *slog.Logger
}

// Embedded is a NATS server running inside this process, listening on loopback only.
type Embedded struct {
	srv *server.Server
}

// readyTimeout bounds how long StartEmbedded waits for the server to accept clients.
const readyTimeout = 10 * time.Second

// StartEmbedded starts a NATS server with JetStream (file storage under StoreDir) on
// 127.0.0.1 and returns once it accepts connections.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions) (*Embedded, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("embedded nats: StoreDir is required")
	}
	port := opts.Port
	if port == 0 {
		port = server.RANDOM_PORT // 0 would mean the default 4222 to the server
	}
	sopts := &server.Options{
		ServerName: "ledger-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true, // the process's signal handling belongs to cmd, not to the bus
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	srv.SetLoggerV2(serverLog{logger.With("component", "nats-server")}, false, false, false)
	srv.Start()

	ready := make(chan bool, 1)
	go func() { ready <- srv.ReadyForConnections(readyTimeout) }()
	select {
	case ok := <-ready:
		if !ok {
			srv.Shutdown()
			return nil, fmt.Errorf("embedded nats: not ready after %s (store %s)", readyTimeout, opts.StoreDir)
		}
	case <-ctx.Done():
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: %w", ctx.Err())
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: JetStream did not start (store %s)", opts.StoreDir)
	}
	logger.Info("embedded NATS server ready", "url", srv.ClientURL(), "store", opts.StoreDir)
	return &Embedded{srv: srv}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits until it has released its store.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// serverLog adapts the server's printf-style logger to slog. The server's notices (its
// start-up banner of a dozen lines, its shutdown steps) are debug detail inside this
// process: StartEmbedded says in one line that the bus is up, and warnings and errors
// keep their levels.
type serverLog struct{ l *slog.Logger }

func (s serverLog) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLog) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Tracef(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
