package paging_test

import (
	"errors"
	"testing"

	"ledger/infra/paging"
)

type key struct {
	N int64 `json:"n"`
}

func TestACursorLeadsBackToItsPlaceInItsOwnListOnly(t *testing.T) {
	c := paging.Encode("incidents/1000001/", key{N: 42})
	got, err := paging.Decode[key]("incidents/1000001/", c)
	if err != nil || got.N != 42 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if got, err := paging.Decode[key]("incidents/1000001/", ""); err != nil || got.N != 0 {
		t.Fatalf("no cursor is the start of the list: %+v, %v", got, err)
	}
	for name, bad := range map[string]string{
		"another list's":          paging.Encode("incidents/1000002/", key{N: 42}),
		"not base64url":           "!!",
		"base64url of no JSON":    "bm90IGpzb24",                                                 // "not json"
		"an unknown field":        "eyJzIjoiaW5jaWRlbnRzLzEwMDAwMDEvIiwiYSI6eyJuIjoxfSwieCI6MX0", // {"s":...,"a":{"n":1},"x":1}
		"something after the doc": "eyJzIjoiaW5jaWRlbnRzLzEwMDAwMDEvIiwiYSI6eyJuIjoxfX0x",        // {...}1
		"a key of the wrong type": paging.Encode("incidents/1000001/", map[string]string{"n": "x"}),
	} {
		if _, err := paging.Decode[key]("incidents/1000001/", bad); !errors.Is(err, paging.ErrBadCursor) {
			t.Errorf("%s cursor %q: %v, want ErrBadCursor", name, bad, err)
		}
	}
}

func TestALimitIsOneToTheMaximumAndDefaultsWhenAbsent(t *testing.T) {
	for raw, want := range map[string]int{"": 0, "1": 1, "1000": 1000} {
		if got, err := paging.ParseLimit(raw); err != nil || got != want {
			t.Errorf("limit %q: %d, %v; want %d", raw, got, err, want)
		}
	}
	for _, raw := range []string{"0", "-1", "1001", "ten", "1e3", " 5"} {
		if _, err := paging.ParseLimit(raw); !errors.Is(err, paging.ErrBadLimit) {
			t.Errorf("limit %q: %v, want ErrBadLimit", raw, err)
		}
	}
	if n, err := (paging.Page{}).Size(); err != nil || n != paging.DefaultLimit {
		t.Errorf("no limit: %d, %v", n, err)
	}
	if _, err := (paging.Page{Limit: paging.MaxLimit + 1}).Size(); !errors.Is(err, paging.ErrBadLimit) {
		t.Errorf("over the maximum: %v", err)
	}
}
