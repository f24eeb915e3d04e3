package main

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// esdbStreamsHolding lists the streams of the EventStoreDB node (the ledger's, the
// server's own, $snapshot- streams) whose events, read back one stream at a time as a
// client reads them, hold needle in their data or metadata. The in-process protocol
// server keeps no files to grep, and a real node keeps truncated events in its chunks
// until a scavenge: what a reader gets back is what this checks.
func esdbStreamsHolding(t *testing.T, conn string, needle string) []string {
	t.Helper()
	c := esdbClient(t, conn)
	all, err := c.ReadAll(t.Context(), esdb.ReadAllOptions{From: esdb.Start{}}, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	streams := map[string]bool{}
	for {
		ev, err := all.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		streams[ev.Event.StreamID] = true
	}
	all.Close()
	var hits []string
	for stream := range streams {
		rs, err := c.ReadStream(t.Context(), stream, esdb.ReadStreamOptions{From: esdb.Start{}}, ^uint64(0))
		if err != nil {
			t.Fatal(err)
		}
		for {
			ev, err := rs.Recv()
			var esErr *esdb.Error
			if errors.Is(err, io.EOF) || errors.As(err, &esErr) && (esErr.Code() == esdb.ErrorCodeResourceNotFound || esErr.Code() == esdb.ErrorCodeStreamDeleted) {
				break
			}
			if err != nil {
				t.Fatalf("read %s: %v", stream, err)
			}
			if bytes.Contains(ev.Event.Data, []byte(needle)) || bytes.Contains(ev.Event.UserMetadata, []byte(needle)) {
				hits = append(hits, stream)
				break
			}
		}
		rs.Close()
	}
	return hits
}
