package sqlstore

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
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

	msgs := subscribeToEmptyLog(t, listening)

	if _, err := admin.ExecContext(ctx, "ALTER ROLE "+role+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	if ended := pgtest.TerminateListeners(t, admin.DB, role); ended != 1 {
		t.Fatalf("terminated %d listener backends, want exactly one", ended)
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

// A listener whose connection goes silent without an error (a half-open TCP link: no
// RST ever arrives) hears nothing and reports nothing. The store must find that out by
// probing, get a new listener and wake its subscribers for what they missed. Here the
// listening store reaches PostgreSQL through a loopback proxy that stops passing bytes
// on the LISTEN connection (and only it) while another store appends.
func TestSubscriberSeesAppendsMissedWhileTheListenerWasSilentlyCutOff(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := bounded(t)
	writer := openAt(t, "postgres", dsn, Options{})
	proxy := newSilencingProxy(t, dsn)
	listening := openAt(t, "postgres", proxy.dsn, Options{PollInterval: 10 * time.Minute})

	msgs := subscribeToEmptyLog(t, listening)
	if silenced := proxy.silenceListeners(); silenced != 1 {
		t.Fatalf("silenced %d LISTEN connections, want 1", silenced)
	}
	missed := event("sent while the listener was cut off")
	if _, err := writer.Append(ctx, "elsewhere", eventstore.NoStream(), missed); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, msgs); m.Event == nil || m.Event.ID != missed.ID {
		t.Fatalf("got %+v, want the event appended while the listener was cut off", m)
	}
}

// silencingProxy passes loopback TCP connections through to a PostgreSQL server and can
// stop passing bytes, both ways and without closing, on those that sent LISTEN.
type silencingProxy struct {
	dsn string

	mu       sync.Mutex
	conns    []*proxiedConn
	released chan struct{} // closed at cleanup: silenced pumps give up
}

type proxiedConn struct {
	listens  atomic.Bool // the client sent LISTEN on it
	silenced atomic.Bool
}

func newSilencingProxy(t *testing.T, dsn string) *silencingProxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	server := u.Host
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = front.Addr().String()
	p := &silencingProxy{dsn: u.String(), released: make(chan struct{})}
	t.Cleanup(func() { front.Close(); close(p.released) })
	go func() {
		for {
			client, err := front.Accept()
			if err != nil {
				return
			}
			back, err := net.Dial("tcp", server)
			if err != nil {
				client.Close()
				continue
			}
			c := &proxiedConn{}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			go p.pump(c, client, back, true)
			go p.pump(c, back, client, false)
		}
	}()
	return p
}

// pump copies from to to until either closes; once c is silenced it holds what it read.
func (p *silencingProxy) pump(c *proxiedConn, from, to net.Conn, fromClient bool) {
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			return
		}
		if fromClient && bytes.Contains(buf[:n], []byte("LISTEN ")) {
			c.listens.Store(true)
		}
		if c.silenced.Load() {
			<-p.released
			return
		}
		if _, err := to.Write(buf[:n]); err != nil {
			return
		}
	}
}

// silenceListeners silences every connection that sent LISTEN and says how many.
func (p *silencingProxy) silenceListeners() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.conns {
		if c.listens.Load() && !c.silenced.Load() {
			c.silenced.Store(true)
			n++
		}
	}
	return n
}
