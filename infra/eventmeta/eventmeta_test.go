package eventmeta

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func sealed(t *testing.T, prev string, rev uint64) []byte {
	t.Helper()
	b, err := Seal(Metadata{Actor: "u1", CorrelationID: "c1", RulesVersion: 1, RecordedAt: time.Unix(10, 0).UTC(), PrevHash: prev}, "PartnerEnrolled", []byte(`{"mpnId":"123456"}`), rev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealedEventChecksOut(t *testing.T) {
	meta := sealed(t, "", 0)
	found, computed, prev, err := Check("PartnerEnrolled", []byte(`{"mpnId":"123456"}`), meta, 0)
	if err != nil || found != computed || prev != GenesisHash {
		t.Fatalf("found %s computed %s prev %s err %v", found, computed, prev, err)
	}
	m, err := Parse(meta)
	if err != nil || m.Hash != found || m.Actor != "u1" {
		t.Fatalf("parse: %+v %v", m, err)
	}
}

func TestAnyEditBreaksTheHash(t *testing.T) {
	meta := sealed(t, "", 3)
	data := []byte(`{"mpnId":"123456"}`)
	cases := map[string]struct {
		typ        string
		data, meta []byte
		rev        uint64
	}{
		"data edited":     {"PartnerEnrolled", []byte(`{"mpnId":"123457"}`), meta, 3},
		"type edited":     {"PartnerRenamed", data, meta, 3},
		"actor edited":    {"PartnerEnrolled", data, bytes.Replace(meta, []byte(`"u1"`), []byte(`"u2"`), 1), 3},
		"revision moved":  {"PartnerEnrolled", data, meta, 4},
		"member injected": {"PartnerEnrolled", data, bytes.Replace(meta, []byte(`{"actor"`), []byte(`{"x":1,"actor"`), 1), 3},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			found, computed, _, err := Check(c.typ, c.data, c.meta, c.rev)
			if err != nil {
				t.Fatal(err)
			}
			if found == computed {
				t.Fatalf("tampering not detected")
			}
		})
	}
}

func TestUnsealedMetadataIsReported(t *testing.T) {
	if _, _, _, err := Check("X", nil, []byte(`{"actor":"a"}`), 0); err != ErrUnsealed {
		t.Fatalf("want ErrUnsealed, got %v", err)
	}
}

// A command keeps its stream's last hash without parsing the metadata: the hash read
// from the sealed bytes is the one Parse finds, and other forms are not mistaken for it.
func TestSealedHashIsTheHashParseFinds(t *testing.T) {
	sealed, err := Seal(Metadata{Actor: "a", CorrelationID: "c", RecordedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, "T.v1", []byte(`{"x":1}`), 3)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := SealedHash(sealed); !ok || got != m.Hash {
		t.Fatalf("SealedHash = %q, %v; Parse found %q", got, ok, m.Hash)
	}
	for _, other := range []string{`{"actor":"a"}`, `{"hash":"` + m.Hash + `"} `, ``, `{"a":1,"hash":"` + strings.ToUpper(m.Hash) + `"}`} {
		if got, ok := SealedHash([]byte(other)); ok {
			t.Fatalf("SealedHash(%s) = %q, want not found", other, got)
		}
	}
}

func TestTraceParentIsReadBackFromSealedMetadataAndChecksOut(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	meta, err := Seal(Metadata{Actor: "u1", CorrelationID: "c1", TraceParent: tp, RulesVersion: 1,
		RecordedAt: time.Unix(10, 0).UTC()}, "PartnerEnrolled", []byte(`{}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := TraceParent(meta); got != tp {
		t.Errorf("TraceParent %q, want %q", got, tp)
	}
	if found, computed, _, err := Check("PartnerEnrolled", []byte(`{}`), meta, 0); err != nil || found != computed {
		t.Errorf("the traceparent breaks the hash: found %s computed %s err %v", found, computed, err)
	}
}

func TestUntracedMetadataKeepsItsFormAndHasNoTraceParent(t *testing.T) {
	meta := sealed(t, "", 0)
	if bytes.Contains(meta, []byte("traceparent")) || TraceParent(meta) != "" {
		t.Errorf("untraced metadata %s mentions a traceparent", meta)
	}
}

func TestTraceParentCannotBeForgedThroughAnotherField(t *testing.T) {
	forged := `x","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`
	meta, err := Seal(Metadata{Actor: forged, CorrelationID: forged, RecordedAt: time.Unix(10, 0).UTC()}, "T", []byte(`{}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := TraceParent(meta); got != "" {
		t.Errorf("an actor's name planted traceparent %q in %s", got, meta)
	}
}
