package commands

import (
	"context"
	"fmt"
	"sync"
)

// sharedRead lets concurrent callers share reads of one thing from the store, each
// still getting a read that began after it asked: a caller arriving while a read runs
// waits for the next one, which every caller arriving before it begins shares. So at
// most one read runs and one waits, however many callers there are, and no caller gets
// an answer older than its own read would have been. Every batch of commands reads the
// rules stream; under load those reads were a sixth of a command's CPU.
type sharedRead[T any] struct {
	turn sync.Mutex // held by the read that runs
	mu   sync.Mutex
	next *readCall[T] // the read that begins when the running one ends; nil: none
}

type readCall[T any] struct {
	done    chan struct{} // closed when val and err are set
	val     T
	err     error
	sharers int // callers waiting for it besides the one that runs it (under mu)
}

// do returns the result of a call of read that began after do was called. The caller
// that finds no read waiting runs the next one itself, apart from its cancellation
// since others may share it (it waits for at most the running read and its own); the
// others wait as long as their ctx allows.
func (r *sharedRead[T]) do(ctx context.Context, read func(context.Context) (T, error)) (T, error) {
	r.mu.Lock()
	c := r.next
	if c == nil {
		c = &readCall[T]{done: make(chan struct{})}
		r.next = c
		r.mu.Unlock()
		r.run(context.WithoutCancel(ctx), c, read)
		return c.val, c.err
	}
	c.sharers++
	r.mu.Unlock()
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// run waits for the running read to end, takes c out of the waiting place (callers
// from now on wait for a later read) and reads.
func (r *sharedRead[T]) run(ctx context.Context, c *readCall[T], read func(context.Context) (T, error)) {
	r.turn.Lock()
	defer r.turn.Unlock()
	r.mu.Lock()
	r.next = nil
	r.mu.Unlock()
	defer close(c.done)
	defer func() { // a panic would leave every caller waiting
		if p := recover(); p != nil {
			c.err = fmt.Errorf("%w: %v", ErrLoadFailed, p)
		}
	}()
	c.val, c.err = read(ctx)
}

// waiting is how many callers wait for the read that has not begun (tests).
func (r *sharedRead[T]) waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		return 0
	}
	return 1 + r.next.sharers
}
