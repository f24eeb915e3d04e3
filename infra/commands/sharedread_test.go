package commands

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"ledger/infra/testkit"
)

// gatedReads counts the reads it serves; the first waits until released.
type gatedReads struct {
	reads   atomic.Int64
	started chan struct{} // closed when the first read begins
	release chan struct{}
}

func newGatedReads() *gatedReads {
	return &gatedReads{started: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedReads) read(context.Context) (int64, error) {
	n := g.reads.Add(1)
	if n == 1 {
		close(g.started)
		<-g.release
	}
	return n, nil
}

// A caller arriving while a read runs never gets that read's answer (it may predate
// what the caller must see, such as a rules version published just before): it gets
// the next read's.
func TestSharedReadAnswersACallerWithAReadBegunAfterItAsked(t *testing.T) {
	var r sharedRead[int64]
	g := newGatedReads()
	ctx := context.Background()
	first := make(chan int64)
	go func() { v, _ := r.do(ctx, g.read); first <- v }()
	<-g.started
	second := make(chan int64)
	go func() { v, _ := r.do(ctx, g.read); second <- v }()
	testkit.Eventually(t, "the second caller waits for the next read", func() bool { return r.waiting() == 1 })
	close(g.release)
	if v := <-first; v != 1 {
		t.Fatalf("first caller got read %d, want 1", v)
	}
	if v := <-second; v != 2 {
		t.Fatalf("caller arriving during read 1 got read %d, want 2", v)
	}
}

// Ten callers arriving while a read runs share the one read after it.
func TestSharedReadServesCallersArrivingTogetherWithOneRead(t *testing.T) {
	var r sharedRead[int64]
	g := newGatedReads()
	ctx := context.Background()
	go r.do(ctx, g.read)
	<-g.started
	var wg sync.WaitGroup
	got := make([]int64, 10)
	for i := range got {
		wg.Go(func() { got[i], _ = r.do(ctx, g.read) })
	}
	testkit.Eventually(t, "ten callers wait for the next read", func() bool { return r.waiting() == 10 })
	close(g.release)
	wg.Wait()
	for i, v := range got {
		if v != 2 {
			t.Fatalf("caller %d got read %d, want the shared read 2", i, v)
		}
	}
	if n := g.reads.Load(); n != 2 {
		t.Fatalf("%d reads for 1 + 10 callers, want 2", n)
	}
}
