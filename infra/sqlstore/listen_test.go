package sqlstore

import (
	"sync"
	"testing"

	"github.com/uptrace/bun/driver/pgdriver"
)

// The driver sends LISTEN without waiting for the server to run it, so under load the
// store's first own NOTIFY can commit before LISTEN takes effect and is never delivered.
// The store must still confirm the listener (not fall back to polling, which leaves
// another process's subscribers deaf until the next poll): here LISTEN is sent only
// after the first own NOTIFY has committed, the losing order made certain.
func TestListenerConfirmedWhenLISTENTakesEffectAfterTheFirstOwnNotify(t *testing.T) {
	s := openPostgres(t, Options{})
	ctx := bounded(t)
	ln := pgdriver.NewListener(s.db)
	defer ln.Close()
	notes := ln.Channel() // so far listening only on the driver's ping channel
	var once sync.Once
	listenErr := make(chan error, 1)
	s.ownNotifySent = func() { once.Do(func() { listenErr <- ln.Listen(ctx, notifyChannel) }) }
	if err := s.hearOwnNotify(ctx, notes); err != nil {
		t.Fatalf("listener not confirmed: %v", err)
	}
	if err := <-listenErr; err != nil {
		t.Fatal(err)
	}
}
