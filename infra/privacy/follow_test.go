package privacy_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"ledger/infra/privacy"
	"ledger/infra/testkit"
)

// TestAnotherProcessStopsReadingASubjectOnceItIsErasedElsewhere: two processes share
// one event store; the second has alice's key cached (it decoded her before). The first
// erases her; the second, following the erasures stream, evicts the key and drops what
// it caches of her, and from then on reads her values as erased, without a restart.
func TestAnotherProcessStopsReadingASubjectOnceItIsErasedElsewhere(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := newLedger(t)
	sealed, err := first.shred.SealSubject(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := privacy.OpenKeys(ctx, first.store.DB())
	if err != nil {
		t.Fatal(err)
	}
	second := privacy.NewShredder(keys)
	if got, err := second.OpenSubject(ctx, sealed); err != nil || got != alice {
		t.Fatalf("the second process reads %q, %v before the erasure, want alice", got, err)
	}
	var mu sync.Mutex
	var dropped []string
	followed := make(chan error, 1)
	go func() {
		followed <- privacy.FollowErasures(ctx, first.store, keys, time.Millisecond, func(ref string, _ bool) {
			mu.Lock()
			defer mu.Unlock()
			dropped = append(dropped, ref)
		}, slog.Default())
	}()

	erasure, err := first.eraser.Erase(ctx, alice, "platform-operator@ledger.example", t0)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the second process reads alice as erased", func() bool {
		got, err := second.OpenSubject(ctx, sealed)
		if err != nil {
			t.Fatal(err)
		}
		return got == erasure.Erased
	})
	mu.Lock()
	if len(dropped) != 1 || dropped[0] != erasure.SubjectRef {
		t.Errorf("the second process dropped its cached states for %v, want [%s]", dropped, erasure.SubjectRef)
	}
	mu.Unlock()
	cancel()
	if err := <-followed; err != nil {
		t.Fatal(err)
	}
}

// An erasure recorded before a process began following reaches it as not live (it has
// held nothing of the subject since it started, so it need not delete snapshots again);
// one recorded while it follows arrives live.
func TestErasuresBeforeTheStartArriveNotLiveAndLaterOnesLive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newLedger(t)
	for _, subject := range []string{alice, bob} {
		if _, err := l.shred.SealSubject(ctx, subject); err != nil {
			t.Fatal(err)
		}
	}
	before, err := l.eraser.Erase(ctx, bob, "platform-operator@ledger.example", t0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := privacy.OpenKeys(ctx, l.store.DB())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	live := map[string]bool{}
	followed := make(chan error, 1)
	go func() {
		followed <- privacy.FollowErasures(ctx, l.store, keys, time.Millisecond, func(ref string, isLive bool) {
			mu.Lock()
			defer mu.Unlock()
			live[ref] = isLive
		}, slog.Default())
	}()
	testkit.Eventually(t, "the erasure from before the start is followed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, seen := live[before.SubjectRef]
		return seen
	})
	after, err := l.eraser.Erase(ctx, alice, "platform-operator@ledger.example", t0)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the later erasure is followed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, seen := live[after.SubjectRef]
		return seen
	})
	cancel()
	<-followed
	mu.Lock()
	defer mu.Unlock()
	if live[before.SubjectRef] || !live[after.SubjectRef] {
		t.Errorf("live: before the start %v, after %v; want false, true", live[before.SubjectRef], live[after.SubjectRef])
	}
}
