package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// listener is the store's LISTEN connection on PostgreSQL. pgdriver's Listener redials
// and re-sends LISTEN by itself when its connection breaks (listener.go, checkConn and
// reconnect), but its Channel hides that it did, and the NOTIFYs sent between the loss
// and the new LISTEN taking effect are gone. Read through Receive, the loss shows as
// an error, after which the store confirms LISTEN again and wakes its subscribers.
type listener struct {
	ln    *pgdriver.Listener
	heard chan heard    // notifications, and the errors of a lost connection, in order
	done  chan struct{} // closed by close: the reader stops
}

// heard is one thing the listener's connection gave: a notification's payload, or the
// error that lost the connection.
type heard struct {
	payload string
	err     error
}

// startListener starts reading ln.
func (s *Store) startListener(ln *pgdriver.Listener) *listener {
	l := &listener{ln: ln, heard: make(chan heard), done: make(chan struct{})}
	s.workers.Go(l.read)
	return l
}

func (l *listener) read() {
	for {
		_, payload, err := l.ln.Receive(context.Background())
		select {
		case l.heard <- heard{payload: payload, err: err}:
		case <-l.done:
			return
		}
	}
}

func (l *listener) close() {
	close(l.done)
	l.ln.Close()
}

// listen starts LISTEN before Open returns, so no append after Open goes unheard. If no
// listener is confirmed, subscribers still see other processes' appends by polling.
func (s *Store) listen(ctx context.Context) {
	var err error
	for attempt := 1; attempt <= listenAttempts; attempt++ {
		var l *listener
		if l, err = s.confirmedListener(ctx); err == nil {
			s.workers.Go(func() { s.relayNotifications(l) })
			return
		}
	}
	s.opts.Logger.Warn("event store: LISTEN not confirmed; subscribers fall back to polling", "err", err)
}

// confirmedListener opens a listener on a new connection and confirms it.
func (s *Store) confirmedListener(ctx context.Context) (*listener, error) {
	ln := pgdriver.NewListener(s.db)
	if err := ln.Listen(ctx, notifyChannel); err != nil {
		ln.Close()
		return nil, err
	}
	l := s.startListener(ln)
	if err := s.confirm(ctx, l); err != nil {
		l.close() // a deaf listener: the caller starts again on a new connection
		return nil, err
	}
	return l, nil
}

// confirm proves l's LISTEN is in effect, then wakes every subscriber once as if a
// NOTIFY had arrived: whatever was appended while l was not yet (or no longer)
// listening is read now rather than at the next poll.
func (s *Store) confirm(ctx context.Context, l *listener) error {
	ctx, cancel := context.WithTimeout(ctx, listenConfirmTimeout) // bounds the NOTIFY's own connection too
	defer cancel()
	if err := s.hearOwnNotify(ctx, l.heard); err != nil {
		return fmt.Errorf("confirm LISTEN: %w", err)
	}
	s.appended.Broadcast()
	return nil
}

// listenAttempts bounds the listeners tried at Open before falling back to polling.
const listenAttempts = 3

// listenConfirmTimeout bounds one confirmation: sending the store's own NOTIFY and
// hearing it.
const listenConfirmTimeout = 10 * time.Second

// ownNotifyResend is how often hearOwnNotify sends its NOTIFY again. A NOTIFY that
// commits before the server has run the LISTEN is never delivered (the usual order on a
// loaded machine, where the new listener backend starts slower than a pooled one), so
// one NOTIFY and a wait would call a healthy listener deaf.
const ownNotifyResend = 100 * time.Millisecond

// ownNotifyPrefix starts the payload of the NOTIFYs that confirm a listener; commits
// send the new head position, a number.
const ownNotifyPrefix = "listening "

// hearOwnNotify sends NOTIFYs with a payload of this Store's until the listener hears
// one: the first one heard proves LISTEN is in effect. The driver only sends LISTEN, it
// does not wait for the server to run it, so nothing else proves it.
func (s *Store) hearOwnNotify(ctx context.Context, notes <-chan heard) error {
	token := ownNotifyPrefix + strconv.FormatInt(time.Now().UnixNano(), 36) + " " + strconv.FormatUint(rand.Uint64(), 36)
	resend := time.NewTicker(ownNotifyResend)
	defer resend.Stop()
	for {
		if _, err := s.db.ExecContext(ctx, "SELECT pg_notify(?, ?)", notifyChannel, token); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		if s.ownNotifySent != nil {
			s.ownNotifySent()
		}
		if heard, err := awaitPayload(ctx, notes, token, resend.C); heard || err != nil {
			return err
		}
	}
}

// awaitPayload reports whether payload arrives on notes before resend ticks; it fails
// when the connection is lost or ctx ends first.
func awaitPayload(ctx context.Context, notes <-chan heard, payload string, resend <-chan time.Time) (bool, error) {
	for {
		select {
		case n := <-notes:
			if n.err != nil {
				return false, fmt.Errorf("listener connection: %w", n.err)
			}
			if n.payload == payload {
				return true, nil
			}
		case <-resend:
			return false, nil
		case <-ctx.Done():
			return false, fmt.Errorf("own NOTIFY not heard: %w", ctx.Err())
		}
	}
}

// listenProbeAfter is how long the listener may hear nothing before the store confirms
// it again. A connection that died without a word (a half-open TCP link) gives no
// error; pgdriver's Channel pinged after 5 s of silence for the same reason.
const listenProbeAfter = 5 * time.Second

// relistenRetry is the pause between failed attempts to get a working LISTEN back.
const relistenRetry = 500 * time.Millisecond

// relayNotifications turns NOTIFYs from any process's appends into wake-ups for this
// Store's subscribers. When the connection is lost (or a probe finds it deaf) it gets a
// confirmed LISTEN back through relisten; subscribers poll meanwhile.
func (s *Store) relayNotifications(l *listener) {
	ctx, cancel := s.untilClosed()
	defer cancel()
	probe := time.NewTimer(listenProbeAfter)
	defer probe.Stop()
	for {
		var lost error
		select {
		case <-s.stop:
			l.close()
			return
		case n := <-l.heard:
			if n.err == nil {
				if !strings.HasPrefix(n.payload, ownNotifyPrefix) { // any store's confirmation wakes only that store
					s.appended.Broadcast()
				}
				probe.Reset(listenProbeAfter)
				continue
			}
			lost = n.err
		case <-probe.C:
			if lost = s.confirm(ctx, l); lost == nil {
				probe.Reset(listenProbeAfter)
				continue
			}
			l.close() // deaf without an error: no point confirming it again
			l = nil
		}
		if l = s.relisten(ctx, l, lost); l == nil {
			return
		}
		probe.Reset(listenProbeAfter)
	}
}

// relisten gets a confirmed LISTEN back after the listener was lost: first on l, if
// not nil (pgdriver has already redialled it), then on new listeners until one is
// confirmed (the same confirmation as at Open, which also wakes the subscribers). It
// returns nil, having closed every listener, when the store closes.
func (s *Store) relisten(ctx context.Context, l *listener, lost error) *listener {
	if ctx.Err() != nil {
		if l != nil {
			l.close()
		}
		return nil
	}
	s.opts.Logger.Warn("event store: LISTEN lost; subscribers poll until it is confirmed again", "err", lost)
	if l != nil && s.confirm(ctx, l) != nil {
		l.close()
		l = nil
	}
	for attempt := 1; l == nil; attempt++ {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(relistenRetry):
		}
		var err error
		if l, err = s.confirmedListener(ctx); err != nil && attempt%20 == 0 {
			s.opts.Logger.Warn("event store: LISTEN still not confirmed", "attempts", attempt, "err", err)
		}
	}
	s.relistens.Add(1)
	s.opts.Logger.Info("event store: LISTEN confirmed again; subscribers woken to read what they missed")
	return l
}

// untilClosed is a context that ends when the Store closes.
func (s *Store) untilClosed() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
