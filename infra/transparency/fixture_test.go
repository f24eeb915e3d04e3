package transparency_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"ledger/infra/eventstore"
	"ledger/infra/pgtest"
	"ledger/infra/sqlstore"
	"ledger/infra/transparency"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backends are the SQL event stores the tree is kept beside.
var backends = []struct {
	name string
	open func(t *testing.T) *sqlstore.Store
}{
	{"sqlite", func(t *testing.T) *sqlstore.Store {
		s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlstore.Options{PageSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T) *sqlstore.Store {
		s, err := sqlstore.OpenPostgres(context.Background(), pgtest.NewDatabase(t), sqlstore.Options{PageSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// logKit is a real event store with its tree and a publisher signing with a fresh key.
type logKit struct {
	t     *testing.T
	store *sqlstore.Store
	tree  *transparency.Tree
	pub   *transparency.Publisher
	key   transparency.Key
}

func newLogKit(t *testing.T, s *sqlstore.Store) *logKit {
	t.Helper()
	tree, err := transparency.OpenTree(context.Background(), s.DB(), s)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t, "ledger.test/events")
	return &logKit{t: t, store: s, tree: tree, key: key, pub: &transparency.Publisher{Tree: tree, Key: key}}
}

func newKey(t testing.TB, name string) transparency.Key {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	key, err := transparency.ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// append writes n events spread over three streams, each with its own payload.
func (k *logKit) append(n int) {
	k.t.Helper()
	for i := range n {
		stream := fmt.Sprintf("partner-%07d", 1000000+i%3)
		data := fmt.Sprintf(`{"n":%d,"note":"event %d of the test"}`, i, i)
		if _, err := k.store.Append(context.Background(), stream, eventstore.Any(),
			eventstore.EventData{ID: uuid.NewString(), Type: "TestHappened.v1", Data: []byte(data), Metadata: []byte(`{"actor":"tester"}`)}); err != nil {
			k.t.Fatal(err)
		}
	}
}

func (k *logKit) publish() transparency.Checkpoint {
	k.t.Helper()
	cp, err := k.pub.Publish(context.Background())
	if err != nil {
		k.t.Fatal(err)
	}
	return cp
}

func (k *logKit) exec(query string, args ...any) {
	k.t.Helper()
	if _, err := k.store.DB().ExecContext(context.Background(), query, args...); err != nil {
		k.t.Fatalf("%s: %v", query, err)
	}
}

func (k *logKit) verify(cp transparency.Checkpoint) transparency.Extension {
	k.t.Helper()
	x, err := transparency.VerifyExtends(context.Background(), k.store, k.tree, []byte(cp.Note), k.key.Verifier)
	if err != nil {
		k.t.Fatal(err)
	}
	return x
}

// eventAt reads the event at a position of the global log from the store.
func (k *logKit) eventAt(pos uint64) eventstore.RecordedEvent {
	k.t.Helper()
	for e, err := range k.store.ReadAll(context.Background(), eventstore.Position{Commit: pos - 1, Prepare: pos - 1}) {
		if err != nil {
			k.t.Fatal(err)
		}
		return e
	}
	k.t.Fatalf("no event at %d", pos)
	return eventstore.RecordedEvent{}
}
