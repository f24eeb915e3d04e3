// Package paging is how every list the API answers is cut into pages: a bounded limit
// and an opaque cursor naming the last item a page gave. Lists are walked by key
// (keyset pagination), never by offset, so a list that grows while a client walks it
// neither repeats nor skips an item, and a page costs the same whatever the list's size.
package paging

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits of one page, for every paged list.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

var (
	// ErrBadLimit: a limit outside 1..MaxLimit, or not a number.
	ErrBadLimit = errors.New("invalid page limit")
	// ErrBadCursor: a cursor this list did not hand out (malformed, altered, or made for
	// another list).
	ErrBadCursor = errors.New("invalid page cursor")
)

// Page asks for one page: the items after Cursor ("" for the first page), at most Limit
// of them (0 for DefaultLimit).
type Page struct {
	Cursor string
	Limit  int
}

// Size is the number of items the page may hold: Limit, or DefaultLimit when unset.
// A Limit outside 1..MaxLimit is ErrBadLimit.
func (p Page) Size() (int, error) {
	switch {
	case p.Limit == 0:
		return DefaultLimit, nil
	case p.Limit < 1 || p.Limit > MaxLimit:
		return 0, fmt.Errorf("%w: %d, want 1 to %d", ErrBadLimit, p.Limit, MaxLimit)
	}
	return p.Limit, nil
}

// ParseLimit reads a limit as a query parameter gives it: "" is the default (0).
func ParseLimit(raw string) (int, error) {
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, fmt.Errorf("%w: %q, want 1 to %d", ErrBadLimit, raw, MaxLimit)
	}
	return n, nil
}

// token is what a cursor carries: the list it belongs to (Scope, e.g. the partner and
// filter of the query) and the key of the last item given.
type token[K any] struct {
	Scope string `json:"s"`
	After K      `json:"a"`
}

// Encode makes the cursor of the page after key in the list scope: base64url of a small
// JSON document, opaque to clients.
func Encode[K any](scope string, after K) string {
	b, err := json.Marshal(token[K]{Scope: scope, After: after})
	if err != nil {
		panic(fmt.Sprintf("paging: key %T does not encode: %v", after, err)) // keys are plain structs
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads a cursor Encode made for scope. Anything else (not base64url, not the
// exact document, unknown fields, another scope) is ErrBadCursor; "" is the zero key,
// the start of the list. Whether the key itself makes sense is the caller's to check.
func Decode[K any](scope, cursor string) (K, error) {
	var zero K
	if cursor == "" {
		return zero, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return zero, fmt.Errorf("%w: not base64url", ErrBadCursor)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var t token[K]
	if err := dec.Decode(&t); err != nil || !atEnd(dec) {
		return zero, fmt.Errorf("%w: not a cursor this server made", ErrBadCursor)
	}
	if t.Scope != scope {
		return zero, fmt.Errorf("%w: it belongs to another list (%q); start again without a cursor", ErrBadCursor, t.Scope)
	}
	return t.After, nil
}

// atEnd: nothing follows the document.
func atEnd(dec *json.Decoder) bool {
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}
