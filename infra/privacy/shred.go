package privacy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"ledger/domain"
)

// sealedPrefix starts a stored personal value: "pii:<ref>:<base64url(nonce|ciphertext)>".
// erasedPrefix starts what a value of an erased subject reads as: "erased:<ref>".
const (
	sealedPrefix = "pii:"
	erasedPrefix = "erased:"
)

// Shredder seals and opens personal values with the subjects' keys. It implements
// domain.PersonalData, the codec's store boundary.
type Shredder struct{ keys *Keys }

var _ domain.PersonalData = (*Shredder)(nil)

// NewShredder seals with the keys of k.
func NewShredder(k *Keys) *Shredder { return &Shredder{keys: k} }

// Keys is the key table the shredder uses.
func (s *Shredder) Keys() *Keys { return s.keys }

// SealSubject encrypts one personal value with its subject's key. System actor names
// and empty values are kept as they are: they name no person.
func (s *Shredder) SealSubject(ctx context.Context, subject string) (string, error) {
	if subject == "" || domain.IsSystemActorName(subject) || strings.HasPrefix(subject, sealedPrefix) || strings.HasPrefix(subject, erasedPrefix) {
		return subject, nil
	}
	sk, err := s.keys.keyFor(ctx, subject)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, sk.aead.NonceSize(), sk.aead.NonceSize()+len(subject)+sk.aead.Overhead())
	rand.Read(nonce)
	sealed := sk.aead.Seal(nonce, nonce, []byte(subject), []byte(sk.ref))
	return sealedPrefix + sk.ref + ":" + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// OpenSubject decrypts a sealed value; an erased subject's reads as "erased:<ref>".
// Values that were never sealed are returned as they are.
func (s *Shredder) OpenSubject(ctx context.Context, value string) (string, error) {
	rest, ok := strings.CutPrefix(value, sealedPrefix)
	if !ok {
		return value, nil
	}
	ref, body, ok := strings.Cut(rest, ":")
	if !ok {
		return "", fmt.Errorf("sealed personal value without a reference")
	}
	aead, ok, err := s.keys.keyOf(ctx, ref)
	if err != nil {
		return "", err
	}
	if !ok {
		return erasedPrefix + ref, nil
	}
	sealed, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(sealed) < aead.NonceSize() {
		return "", fmt.Errorf("sealed personal value of %s is malformed", ref)
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(ref))
	if err != nil {
		return "", fmt.Errorf("personal value of %s does not decrypt: %w", ref, err)
	}
	return string(plain), nil
}

// Seal encrypts the named string members of an event's JSON.
func (s *Shredder) Seal(typ string, fields []string, data []byte) ([]byte, error) {
	return s.rewrite(data, fields, s.SealSubject)
}

// Open decrypts the named members; without a sealed value in data it returns data as
// it is, so events stored before crypto-shredding (or without personal data) cost one
// scan of their bytes.
func (s *Shredder) Open(typ string, fields []string, data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte(`"`+sealedPrefix)) {
		return data, nil
	}
	return s.rewrite(data, fields, s.OpenSubject)
}

// rewrite applies f to each named top-level member that is a JSON string. It reads the
// object token by token (no map) and splices each new value into a copy of data at the
// old one's offsets: every other member keeps its bytes, and an event without such a
// member is returned as it is. Re-encoding every member instead cost ~80 allocations
// and ~6 µs per event, paid by every command, every projector's decode and every
// replay of a partner's history (issue 10). The codec has no context to pass (Encode
// and Decode are pure functions of their bytes otherwise); key lookups after the first
// of a subject are served from memory.
func (s *Shredder) rewrite(data []byte, fields []string, f func(context.Context, string) (string, error)) ([]byte, error) {
	r := readers.Get().(*objectReader)
	defer readers.Put(r)
	dec := r.reset(data)
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, fmt.Errorf("personal data: event data is not a JSON object")
	}
	var out []byte // nil until a value changes
	copied := 0    // data[:copied] is in out
	for dec.PeekKind() != '}' {
		quoted, err := dec.ReadValue() // the name as written, quotes included
		if err != nil {
			return nil, fmt.Errorf("personal data: %w", err)
		}
		i := fieldIndex(fields, quoted)
		value, err := dec.ReadValue() // voids quoted
		if err != nil {
			return nil, fmt.Errorf("personal data: %w", err)
		}
		if value.Kind() != '"' || i < 0 {
			continue
		}
		name := fields[i]
		plain, err := jsontext.AppendUnquote(nil, value)
		if err != nil {
			return nil, fmt.Errorf("personal data: %w", err)
		}
		v, err := f(context.Background(), string(plain))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		end := int(dec.InputOffset()) // ReadValue returns the value's bytes as they are in data
		if out == nil {
			out = make([]byte, 0, len(data)+len(fields)*96)
		}
		out = append(out, data[copied:end-len(value)]...)
		if out, err = jsontext.AppendQuote(out, v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		copied = end
	}
	if _, err := dec.ReadToken(); err != nil { // the closing brace: data holds one whole object
		return nil, fmt.Errorf("personal data: %w", err)
	}
	if out == nil {
		return data, nil
	}
	return append(out, data[copied:]...), nil
}

// fieldIndex is the index in fields of the member name quoted (as it is in the JSON,
// quotes included), or -1. Names are compared as written: the codec writes its field
// names with encoding/json, which escapes nothing in them, and comparing the bytes
// spares the allocation of unquoting every member's name.
func fieldIndex(fields []string, quoted jsontext.Value) int {
	if len(quoted) < 2 {
		return -1
	}
	name := quoted[1 : len(quoted)-1]
	for i, f := range fields {
		if string(name) == f {
			return i
		}
	}
	return -1
}

// objectReader is a decoder over one event's bytes, kept in readers between events: a
// new decoder and its buffer for each one were a third of rewrite's allocations.
type objectReader struct {
	src bytes.Reader
	dec jsontext.Decoder
}

var readers = sync.Pool{New: func() any { return new(objectReader) }}

func (r *objectReader) reset(data []byte) *jsontext.Decoder {
	r.src.Reset(data)
	// The event was written by encoding/json from a struct: its names are unique, so the
	// duplicate-name bookkeeping is skipped (most of this function's cost otherwise).
	r.dec.Reset(&r.src, jsontext.AllowDuplicateNames(true))
	return &r.dec
}
