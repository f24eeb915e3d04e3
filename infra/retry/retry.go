// Package retry holds the one backoff the forwarder, the projection runner and the
// rebuilds share, so a change to how the ledger waits after a failure is made once.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff doubles a wait from Min up to Max; the zero wait starts at Min.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next is the wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(2*b.cur, b.Max)
	}
	return b.cur
}

// Jittered is a random wait between half of d and d, so that writers who failed
// together (two processes losing the same race) do not retry together.
func Jittered(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d-d/2)
}

// Reset starts again from Min after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d or until ctx ends; it reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
