package natsbus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Conn is a client connection with its JetStream handle.
type Conn struct {
	NATS      *nats.Conn
	JetStream jetstream.JetStream
}

// Connect dials url and keeps reconnecting for ever: the forwarder and the projectors
// ride out a NATS restart instead of exiting, and resume from their checkpoints.
func Connect(ctx context.Context, url string) (*Conn, error) {
	log := slog.Default().With("component", "nats-client")
	opts := []nats.Option{
		nats.Name("ledger"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("reconnected", "url", c.ConnectedUrlRedacted()) }),
	}
	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(url, opts...)
		done <- result{nc, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		go func() {
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("nats connect %s: %w", url, ctx.Err())
	}
	if r.err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", url, r.err)
	}
	js, err := jetstream.New(r.nc)
	if err != nil {
		r.nc.Close()
		return nil, fmt.Errorf("nats jetstream %s: %w", url, err)
	}
	return &Conn{NATS: r.nc, JetStream: js}, nil
}

// Close drains nothing: every publish the ledger makes waits for its ack, so there is
// nothing in flight worth flushing.
func (c *Conn) Close() { c.NATS.Close() }
