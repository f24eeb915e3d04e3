// Package eventmeta is the metadata every ledger event carries (guarantee 6 of the
// architecture: who, when, correlation, causation, rules version) and the hash chain
// that makes a stream tamper-evident: each event's hash covers its stream's previous
// hash and its own canonical content, so editing any stored byte breaks the chain from
// that event on.
package eventmeta

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Metadata is stored as the event's JSON metadata. Hash is always the last member, so
// the canonical form (the bytes without it) can be recovered from the stored bytes
// exactly, whatever JSON library wrote them.
type Metadata struct {
	Actor         string   `json:"actor"`
	Roles         []string `json:"roles,omitempty"`
	CorrelationID string   `json:"correlationId"`
	CausationID   string   `json:"causationId,omitempty"`
	// TraceParent is the W3C traceparent of the command that appended the event, when
	// it was traced: the forwarder and the projectors continue its trace from here.
	TraceParent string `json:"traceparent,omitempty"`
	// IdempotencyKey is the key the client sent with the command (the Idempotency-Key
	// header), on each of the command's events; RequestDigest identifies the request it
	// was sent with, so the key reused for another request is told apart
	// (infra/commands/idempotency.go).
	IdempotencyKey string    `json:"idempotencyKey,omitempty"`
	RequestDigest  string    `json:"requestDigest,omitempty"`
	RulesVersion   int       `json:"rulesVersion"`
	RecordedAt     time.Time `json:"recordedAt"`
	PrevHash       string    `json:"prevHash"`
	Hash           string    `json:"hash,omitempty"`
}

// GenesisHash is the previous hash of a stream's first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Seal fills m.Hash for an event of the given type, data and stream revision and
// returns the metadata bytes to store.
func Seal(m Metadata, eventType string, data []byte, revision uint64) ([]byte, error) {
	if m.PrevHash == "" {
		m.PrevHash = GenesisHash
	}
	m.Hash = ""
	canonical, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("event metadata: %w", err)
	}
	hash := Hash(m.PrevHash, eventType, data, canonical, revision)
	// Append the hash as the last member: `...,"hash":"<hex>"}`.
	out := make([]byte, 0, len(canonical)+80)
	out = append(out, canonical[:len(canonical)-1]...)
	out = append(out, `,"hash":"`...)
	out = append(out, hash...)
	out = append(out, `"}`...)
	return out, nil
}

// Hash is sha256 over the previous hash and the event's canonical content, each part
// length-prefixed so that no two different events can produce the same input.
func Hash(prevHash, eventType string, data, canonicalMeta []byte, revision uint64) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(prevHash), []byte(eventType), data, canonicalMeta, []byte(strconv.FormatUint(revision, 10))} {
		h.Write([]byte(strconv.Itoa(len(part))))
		h.Write([]byte{':'})
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SealedHash reads the hash out of metadata as Seal wrote it (the hash is the last
// member), without parsing the JSON: a command keeps its stream's last hash this way.
// ok is false for metadata of another form; Parse reads those.
func SealedHash(stored []byte) (hash string, ok bool) {
	const tail = len(`,"hash":"`) + 64 + len(`"}`)
	if len(stored) < tail || !bytes.HasSuffix(stored, []byte(`"}`)) || !bytes.HasPrefix(stored[len(stored)-tail:], []byte(`,"hash":"`)) {
		return "", false
	}
	hash = string(stored[len(stored)-66 : len(stored)-2])
	for _, c := range hash {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return hash, true
}

// idempotencyKeyMember opens the idempotencyKey member as json.Marshal writes it (see
// traceParentKey): metadata without it records no key, and need not be parsed.
var idempotencyKeyMember = []byte(`"idempotencyKey":"`)

// HasIdempotencyKey tells, without parsing the JSON, whether stored metadata may carry
// an idempotency key (Parse reads it).
func HasIdempotencyKey(stored []byte) bool { return bytes.Contains(stored, idempotencyKeyMember) }

// traceParentKey opens the traceparent member as json.Marshal writes it. Inside a
// string value json escapes the quotes, so the bytes can only match the member itself.
var traceParentKey = []byte(`"traceparent":"`)

// TraceParent reads the traceparent member out of stored metadata without parsing the
// JSON (the forwarder and the projectors read it for every event they trace); "" when
// there is none. The caller validates the value (tracing.SpanContextOf).
func TraceParent(stored []byte) string {
	i := bytes.Index(stored, traceParentKey)
	if i < 0 {
		return ""
	}
	rest := stored[i+len(traceParentKey):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return string(rest[:end])
}

var hashTail = regexp.MustCompile(`,"hash":"([0-9a-f]{64})"}\s*$`)

// ErrUnsealed is returned for metadata that carries no hash.
var ErrUnsealed = errors.New("event metadata carries no hash")

// Parse reads stored metadata.
func Parse(stored []byte) (Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(stored, &m); err != nil {
		return Metadata{}, fmt.Errorf("event metadata: %w", err)
	}
	return m, nil
}

// Check recomputes the hash of a stored event. It returns the hash found in the
// metadata, the hash the content gives, and the previous hash the metadata names.
func Check(eventType string, data, stored []byte, revision uint64) (found, computed, prev string, err error) {
	loc := hashTail.FindSubmatchIndex(stored)
	if loc == nil {
		return "", "", "", ErrUnsealed
	}
	found = string(stored[loc[2]:loc[3]])
	canonical := append(bytes.Clone(stored[:loc[0]]), '}')
	m, err := Parse(canonical)
	if err != nil {
		return found, "", "", err
	}
	return found, Hash(m.PrevHash, eventType, data, canonical, revision), m.PrevHash, nil
}
