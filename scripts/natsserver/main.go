// Command natsserver runs a NATS server with JetStream as a process of its own, for the
// multi-process topology without Docker (scripts/topology.sh, the end-to-end test). It
// is the ledger's embedded server (natsbus.StartEmbedded) in a separate process:
// loopback only, file storage under --store-dir, so a restart keeps every stream.
//
// It prints "ready nats://127.0.0.1:PORT" on stdout once clients can connect, and shuts
// down cleanly on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"ledger/infra/natsbus"
)

func main() {
	port := flag.Int("port", 4222, "client port on 127.0.0.1 (0: a free one)")
	storeDir := flag.String("store-dir", "", "JetStream store directory (required)")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("process", "natsserver")
	if *storeDir == "" {
		fmt.Fprintln(os.Stderr, "natsserver: --store-dir is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := natsbus.StartEmbedded(ctx, natsbus.EmbeddedOptions{StoreDir: *storeDir, Port: *port, Logger: logger})
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsserver: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("ready %s\n", srv.ClientURL())
	<-ctx.Done()
	srv.Shutdown()
	logger.Info("stopped")
}
