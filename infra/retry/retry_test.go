package retry

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesUpToMaxAndResets(t *testing.T) {
	b := Backoff{Min: 10 * time.Millisecond, Max: 35 * time.Millisecond}
	var got []time.Duration
	for range 4 {
		got = append(got, b.Next())
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 35 * time.Millisecond, 35 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != 10*time.Millisecond {
		t.Fatalf("after Reset: %v", d)
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a cancelled context reported it live")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep on a live context reported it ended")
	}
}

func TestJitteredWaitsBetweenHalfAndAll(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 200 {
		d := Jittered(10 * time.Millisecond)
		if d < 5*time.Millisecond || d > 10*time.Millisecond {
			t.Fatalf("Jittered(10ms) = %v, want within [5ms, 10ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Fatal("Jittered always gives the same wait: no jitter")
	}
}
