package sqlstore

import (
	"context"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"

	"ledger/infra/eventstore"
	"ledger/infra/pgtest"
	"ledger/infra/testkit"
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
	l := s.startListener(ln) // so far listening on no channel
	defer l.close()
	var once sync.Once
	listenErr := make(chan error, 1)
	s.ownNotifySent = func() { once.Do(func() { listenErr <- ln.Listen(ctx, notifyChannel) }) }
	if err := s.hearOwnNotify(ctx, l.heard); err != nil {
		t.Fatalf("listener not confirmed: %v", err)
	}
	if err := <-listenErr; err != nil {
		t.Fatal(err)
	}
}

// When the listener's connection is lost, the NOTIFYs sent before its new LISTEN takes
// effect reach no one. The store must wake its subscribers once the new LISTEN is
// confirmed, so they read what they missed at once, not at their next poll. Here the
// listening store runs as a role that is refused new logins while its listener backend
// is killed and another store appends, so the append certainly falls in the deaf window;
// logins are then allowed again. The subscriber's poll is ten minutes: only the
// wake-up on reconfirmation can deliver the event within the test's bound.
func TestSubscriberSeesAppendsMissedWhileTheListenerReconnected(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := bounded(t)
	writer := openAt(t, "postgres", dsn, Options{}) // owns the schema, never refused
	role := "listener_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	admin := writer.DB()
	if _, err := admin.ExecContext(ctx, "CREATE ROLE "+role+" SUPERUSER LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP ROLE IF EXISTS "+role) })
	listening := openAt(t, "postgres", asRole(t, dsn, role), Options{PollInterval: 10 * time.Minute})

	subCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs := make(chan eventstore.SubscriptionMessage, 8)
	go listening.Subscribe(subCtx, eventstore.Start, func(m eventstore.SubscriptionMessage) error {
		msgs <- m
		return nil
	})
	if m := receive(t, msgs); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp on an empty log", m)
	}

	if _, err := admin.ExecContext(ctx, "ALTER ROLE "+role+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	var killed []bool
	// The timeout makes pg_terminate_backend wait until the backend has exited, and
	// with it stopped listening.
	if err := admin.NewRaw("SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity WHERE usename = ? AND query LIKE 'LISTEN%'", role).Scan(ctx, &killed); err != nil {
		t.Fatal(err)
	}
	if len(killed) != 1 || !killed[0] {
		t.Fatalf("terminated listener backends: %v, want exactly one", killed)
	}
	missed := event("sent while the listener was deaf")
	if _, err := writer.Append(ctx, "elsewhere", eventstore.NoStream(), missed); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "ALTER ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}

	if m := receive(t, msgs); m.Event == nil || m.Event.ID != missed.ID {
		t.Fatalf("got %+v, want the event appended while the listener was reconnecting", m)
	}
	testkit.Eventually(t, "the store counts the reconfirmed LISTEN", func() bool { return listening.Stats().Relistens == 1 })
}

// asRole is dsn with its user replaced by role.
func asRole(t *testing.T, dsn, role string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}
