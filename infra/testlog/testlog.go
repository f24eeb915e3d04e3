// Package testlog gives tests a slog.Logger that writes into the test's own output while
// the test runs and drops what background goroutines log after it ended (writing to a
// finished test's output panics).
package testlog

import (
	"log/slog"
	"sync/atomic"
	"testing"
)

// New returns a text logger at level that writes to t's output until t ends.
func New(t testing.TB, level slog.Level) *slog.Logger {
	var done atomic.Bool
	out := t.Output()
	t.Cleanup(func() { done.Store(true) })
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		if done.Load() {
			return len(p), nil
		}
		return out.Write(p)
	}), &slog.HandlerOptions{Level: level}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
