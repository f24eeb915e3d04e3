// Command esdbserver runs the EventStoreDB protocol server (an in-memory node speaking
// EventStoreDB's gRPC protocol, infra/esdbstore/esdbprotocolserver) as a process of its
// own, standing in for the eventstore container of compose.yaml where no EventStoreDB
// server can run. Its log lives as long as the process: restart the ledger's roles
// freely, but not this one.
//
// It prints "ready esdb://127.0.0.1:PORT?tls=false" on stdout once it accepts calls,
// and stops on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"ledger/infra/esdbstore/esdbprotocolserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2113", "listen address (port 0: a free one)")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("process", "esdbserver")
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "esdbserver: listen on --addr %s: %v\n", *addr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := esdbprotocolserver.New()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	fmt.Printf("ready esdb://%s?tls=false\n", lis.Addr())
	select {
	case <-ctx.Done():
		srv.Stop()
		<-served
		logger.Info("stopped")
	case err := <-served:
		fmt.Fprintf(os.Stderr, "esdbserver: %v\n", err)
		os.Exit(1)
	}
}
