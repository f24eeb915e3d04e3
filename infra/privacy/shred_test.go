package privacy_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"ledger/domain"
	"ledger/infra/privacy"
	"ledger/infra/sqlstore"
)

// TestSealedValuesOpenOnlyUnderTheirOwnKeyAndReference: a sealed value opens to the
// plaintext; the same subject seals differently each time (random nonce) under one
// reference; a value whose ciphertext or reference was altered is an error, never a
// plaintext or an "erased" marker; system actor names and events stored before
// crypto-shredding (plaintext) read as they are.
func TestSealedValuesOpenOnlyUnderTheirOwnKeyAndReference(t *testing.T) {
	ctx := context.Background()
	_, s := newShredder(t, t.TempDir())
	a, _ := s.SealSubject(ctx, "carol@contoso.example")
	b, _ := s.SealSubject(ctx, "carol@contoso.example")
	other, _ := s.SealSubject(ctx, "dave@contoso.example")
	refOf := func(v string) string { return strings.Split(v, ":")[1] }
	if a == b || refOf(a) != refOf(b) || refOf(a) == refOf(other) || strings.Contains(a, "carol") {
		t.Fatalf("sealed %q and %q (dave %q): want one reference per subject, fresh ciphertext, no plaintext", a, b, other)
	}
	if got, err := s.OpenSubject(ctx, a); err != nil || got != "carol@contoso.example" {
		t.Fatalf("opened %q, %v", got, err)
	}
	tampered := a[:len(a)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(a, "AA")]
	swapped := "pii:" + refOf(other) + ":" + strings.SplitN(a, ":", 3)[2]
	for _, v := range []string{tampered, swapped} {
		if got, err := s.OpenSubject(ctx, v); err == nil {
			t.Errorf("altered value %q opened as %q", v, got)
		}
	}
	for _, v := range []string{domain.SystemPlatform, "eve@contoso.example (stored before shredding)"} {
		if sealed, _ := s.SealSubject(ctx, v); v == domain.SystemPlatform && sealed != v {
			t.Errorf("a system actor name was sealed: %q", sealed)
		}
		if got, err := s.OpenSubject(ctx, v); err != nil || got != v {
			t.Errorf("plain %q opened as %q, %v", v, got, err)
		}
	}
}

// TestSealingTouchesOnlyTheNamedTopLevelStrings: Seal and Open change the named
// top-level string members and nothing else (a nested member of the same name, a
// non-string one, every other member keeps its bytes, escapes included); a value that
// needs escaping opens to itself; an event without sealed values opens to its own bytes;
// data that is not one JSON object is refused.
func TestSealingTouchesOnlyTheNamedTopLevelStrings(t *testing.T) {
	_, s := newShredder(t, t.TempDir())
	fields := []string{"openedBy", "customerId", "userId"}
	data := `{"title":"x \u003c y","openedBy":"carol \"the admin\" é@contoso.example","nested":{"openedBy":"dave@contoso.example"},"customerId":null,"userId":"erin@contoso.example","n":1}`
	sealed, err := s.Seal("IncidentOpened", fields, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, kept := range []string{`"title":"x \u003c y",`, `"nested":{"openedBy":"dave@contoso.example"},"customerId":null,`, `,"n":1}`} {
		if !strings.Contains(string(sealed), kept) {
			t.Errorf("sealed %s: want %s kept as it was", sealed, kept)
		}
	}
	if strings.Contains(string(sealed), "carol") || strings.Contains(string(sealed), "erin") {
		t.Errorf("sealed %s still holds a personal value", sealed)
	}
	opened, err := s.Open("IncidentOpened", fields, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if string(opened) != data {
		t.Errorf("opened\n %s\nwant\n %s", opened, data)
	}
	if again, err := s.Open("IncidentOpened", fields, []byte(data)); err != nil || string(again) != data {
		t.Errorf("an event without sealed values opened as %s, %v", again, err)
	}
	for _, bad := range []string{`["pii:x"]`, `{"openedBy":"pii:x:y"`, `{"openedBy":"pii:x:y",}`} {
		if got, err := s.Open("IncidentOpened", fields, []byte(bad)); err == nil {
			t.Errorf("Open(%s) = %s, want an error", bad, got)
		}
	}
}

// newShredder opens an event store in dir and a shredder over its key table, both
// closed with tb.
func newShredder(tb testing.TB, dir string) (*sqlstore.Store, *privacy.Shredder) {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "events.db"), sqlstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	keys, err := privacy.OpenKeys(ctx, store.DB())
	if err != nil {
		tb.Fatal(err)
	}
	return store, privacy.NewShredder(keys)
}
