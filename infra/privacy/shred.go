package privacy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
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

// rewrite applies f to each named top-level member that is a JSON string, streaming
// the object token by token (no map, no re-encoding of the other members). The codec
// has no context to pass (Encode and Decode are pure functions of their bytes
// otherwise); key lookups after the first of a subject are served from memory.
func (s *Shredder) rewrite(data []byte, fields []string, f func(context.Context, string) (string, error)) ([]byte, error) {
	// The event was written by encoding/json from a struct: its names are unique, so the
	// duplicate-name bookkeeping is skipped (most of this function's cost otherwise).
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true))
	out := bytes.NewBuffer(make([]byte, 0, len(data)+len(fields)*96))
	enc := jsontext.NewEncoder(out, jsontext.AllowDuplicateNames(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, fmt.Errorf("personal data: event data is not a JSON object")
	}
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return nil, err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, fmt.Errorf("personal data: %w", err)
		}
		name := tok.String() // before the next read voids tok
		value, err := dec.ReadValue()
		if err != nil {
			return nil, fmt.Errorf("personal data: %w", err)
		}
		if err := enc.WriteToken(jsontext.String(name)); err != nil {
			return nil, err
		}
		if value.Kind() != '"' || !slices.Contains(fields, name) {
			if err := enc.WriteValue(value); err != nil {
				return nil, err
			}
			continue
		}
		var v string
		if err := jsonv2.Unmarshal(value, &v); err != nil {
			return nil, fmt.Errorf("personal data: %w", err)
		}
		if v, err = f(context.Background(), v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := enc.WriteToken(jsontext.String(v)); err != nil {
			return nil, err
		}
	}
	if err := enc.WriteToken(jsontext.EndObject); err != nil {
		return nil, err
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}
