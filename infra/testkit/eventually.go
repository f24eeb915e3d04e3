// Package testkit holds the helpers every package's tests share, so that there is one
// way to wait for something another goroutine or process brings about.
package testkit

import (
	"testing"
	"time"
)

// HangBound is how long Eventually waits before it fails. It only keeps a broken test
// from hanging: it is no speed target, so it is generous enough for the race detector on
// a loaded 2-core machine.
const HangBound = time.Minute

// pollEvery is how often Eventually looks again.
const pollEvery = 5 * time.Millisecond

// Eventually polls cond until it holds, and fails the test, naming what it waited for,
// if it does not within HangBound. Use it for conditions that must come true; it proves
// nothing about how fast they do.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(HangBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting until %s", HangBound, what)
		}
		time.Sleep(pollEvery)
	}
}
