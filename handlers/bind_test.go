package handlers_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"ledger/handlers"
)

const validGrant = `{"mpnId":"1234567","offer":"gold","validFrom":"2024-01-01T00:00:00Z","contact":{"email":"a@b"},"pools":[{"kind":"cloud","granted":5}]}`

func TestStrictBindingRefusesBadBodiesAndStoresNothing(t *testing.T) {
	f := newFixture(t)
	auth := bearer(t, "alice", handlers.RolePlatform)
	cases := []struct {
		name      string
		body      string
		wantField string // "" when the problem concerns no single field
		wantText  string
	}{
		{"empty body", ``, "", "empty"},
		{"malformed JSON", `{"mpnId": "1",`, "", "malformed JSON"},
		{"trailing data after the object", validGrant + ` {}`, "", "malformed JSON"},
		{"an array instead of an object", `[1,2]`, "", "JSON object"},
		{"null instead of an object", `null`, "", "JSON object"},
		{"an unknown field", `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","bonus":1}`, "bonus", "unknown field"},
		{"a field in the wrong case is unknown", `{"MpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`, "MpnId", "unknown field"},
		{"an unknown nested field", `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","contact":{"email":"a","phone":"1"}}`, "contact.phone", "unknown field"},
		{"a number where a string belongs", `{"mpnId":1234567,"offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`, "mpnId", "want a string, got number"},
		{"a string where an integer belongs", `{"mpnId":"1","offer":"gold","seats":"ten","validFrom":"2024-01-01T00:00:00Z"}`, "seats", "want an integer"},
		{"a fraction where an integer belongs", `{"mpnId":"1","offer":"gold","seats":1.5,"validFrom":"2024-01-01T00:00:00Z"}`, "seats", "want an integer"},
		{"a time that is not RFC 3339", `{"mpnId":"1","offer":"gold","validFrom":"yesterday"}`, "validFrom", "parsing time"},
		{"a wrong type inside a list", `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","pools":[{"kind":"a"},{"kind":"b","granted":"5"}]}`, "pools[1].granted", "want an integer"},
		{"an object where a list belongs", `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","pools":{}}`, "pools", "want an array"},
		{"a missing required field", `{"mpnId":"1","validFrom":"2024-01-01T00:00:00Z"}`, "offer", "is required"},
		{"a required field set to null", `{"mpnId":"1","offer":null,"validFrom":"2024-01-01T00:00:00Z"}`, "offer", "is required"},
		{"a missing required nested field", `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","contact":{}}`, "contact.email", "is required"},
		{"a missing required field in a list item", `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","pools":[{"granted":1}]}`, "pools[0].kind", "is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(http.MethodPost, "/v1/partners/1/grants", jsonBody(tc.body), "Authorization", auth, "Content-Type", "application/json")
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
			}
			p := problemOf(t, rec)
			if p.Code != handlers.CodeBadRequest || !strings.Contains(p.Detail, tc.wantText) {
				t.Errorf("problem %q %q, want bad_request mentioning %q", p.Code, p.Detail, tc.wantText)
			}
			if tc.wantField != "" && p.Extra["field"] != tc.wantField {
				t.Errorf("field %v, want %q (detail %q)", p.Extra["field"], tc.wantField, p.Detail)
			}
		})
	}
	if n := f.storedCount(); n != 0 {
		t.Errorf("%d bad bodies were stored", n)
	}
}

func TestStrictBindingAcceptsAGoodBody(t *testing.T) {
	f := newFixture(t)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/merge-patch+json", ""} {
		rec := f.do(http.MethodPost, "/v1/partners/1/grants", jsonBody(validGrant), "Authorization", bearer(t, "alice"), "Content-Type", ct)
		if rec.Code != http.StatusCreated {
			t.Fatalf("Content-Type %q: status %d: %s", ct, rec.Code, rec.Body)
		}
	}
	got := f.stored[0]
	if got.MpnID != "1234567" || got.Offer != "gold" || got.Contact.Email != "a@b" || *got.Pools[0].Granted != 5 ||
		got.ValidFrom.Year() != 2024 {
		t.Errorf("decoded %+v", got)
	}
}

func TestStrictBindingRefusesOtherMediaTypes(t *testing.T) {
	f := newFixture(t)
	rec := f.do(http.MethodPost, "/v1/partners/1/grants", jsonBody(validGrant), "Authorization", bearer(t, "alice"),
		"Content-Type", "application/x-www-form-urlencoded")
	if rec.Code != http.StatusUnsupportedMediaType || problemOf(t, rec).Code != handlers.CodeUnsupportedMediaType {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if f.storedCount() != 0 {
		t.Error("stored a form body")
	}
}

// paddedGrant is a valid grant body of exactly n bytes.
func paddedGrant(n int) []byte {
	head := `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","contact":{"email":"`
	tail := `"}}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

func TestBodyLimit(t *testing.T) {
	auth := bearer(t, "alice")
	t.Run("exactly 64 KiB is accepted", func(t *testing.T) {
		f := newFixture(t)
		rec := f.do(http.MethodPost, "/v1/partners/1/grants", bytes.NewReader(paddedGrant(handlers.MaxBodyBytes)), "Authorization", auth)
		if rec.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String()[:200])
		}
	})
	t.Run("one byte more is 413 by Content-Length", func(t *testing.T) {
		f := newFixture(t)
		rec := f.do(http.MethodPost, "/v1/partners/1/grants", bytes.NewReader(paddedGrant(handlers.MaxBodyBytes+1)), "Authorization", auth)
		if rec.Code != http.StatusRequestEntityTooLarge || problemOf(t, rec).Code != handlers.CodePayloadTooLarge {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if f.storedCount() != 0 {
			t.Error("an oversized body was stored")
		}
	})
	t.Run("one byte more is 413 when streamed without Content-Length", func(t *testing.T) {
		f := newFixture(t)
		body := io.MultiReader(bytes.NewReader(paddedGrant(handlers.MaxBodyBytes + 1))) // hides the length
		req := httptestRequest(http.MethodPost, "/v1/partners/1/grants", body)
		req.Header.Set("Authorization", auth)
		rec := serve(f, req)
		if rec.Code != http.StatusRequestEntityTooLarge || problemOf(t, rec).Code != handlers.CodePayloadTooLarge {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if f.storedCount() != 0 {
			t.Error("an oversized body was stored")
		}
	})
}
