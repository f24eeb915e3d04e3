// Package broadcast wakes every waiter at once, any number of times: the event store's
// subscribers when an append commits, and read-your-writes waiters when a checkpoint
// moves. One home for a small piece of concurrency that is easy to get subtly wrong.
package broadcast

import "sync"

// Signal is safe for concurrent use; the zero value is not, use New.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// New returns a Signal with no waiters.
func New() *Signal { return &Signal{ch: make(chan struct{})} }

// Wait returns a channel that the next Broadcast closes. Take it before looking at the
// state you wait on, so that a Broadcast between the look and the wait is not missed.
func (s *Signal) Wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// Broadcast wakes everyone waiting on a channel from Wait.
func (s *Signal) Broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}
