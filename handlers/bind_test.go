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
		t.Run(tc.name, func(t *testing.T) { postRefused(t, f, auth, tc.body, tc.wantField, tc.wantText) })
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
	head := `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","note":"`
	tail := `"}`
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

// grantWith is a valid grant body with extra members spliced in (raw JSON after a comma).
func grantWith(members string) string {
	return `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z",` + members + `}`
}

// encoding/json would store these silently altered (U+FFFD, the last duplicate) or
// unbounded; Bind refuses each with a 400 naming the field, and stores nothing.
func TestStrictBindingRefusesTextEncodingJSONWouldAlterOrNotBound(t *testing.T) {
	f := newFixture(t)
	auth := bearer(t, "alice", handlers.RolePlatform)
	cases := []struct {
		name, body, wantField, wantText string
	}{
		{"invalid UTF-8 bytes", "{\"mpnId\":\"1\xff\",\"offer\":\"gold\",\"validFrom\":\"2024-01-01T00:00:00Z\"}", "mpnId", "invalid UTF-8"},
		{"a truncated UTF-8 sequence", "{\"mpnId\":\"1\",\"offer\":\"gol\xc3\",\"validFrom\":\"2024-01-01T00:00:00Z\"}", "offer", "invalid UTF-8"},
		{"a lone high surrogate escape", `{"mpnId":"\ud800","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`, "mpnId", "surrogate"},
		{"a lone low surrogate escape", grantWith(`"contact":{"email":"a\udc00b"}`), "contact.email", "surrogate"},
		{"surrogates in the wrong order", grantWith(`"pools":[{"kind":"a"},{"kind":"\udc00\ud800"}]`), "pools[1].kind", "surrogate"},
		{"a duplicate member", `{"mpnId":"1","offer":"gold","offer":"silver","validFrom":"2024-01-01T00:00:00Z"}`, "offer", "more than once"},
		{"a duplicate nested member", grantWith(`"contact":{"email":"a@b","email":"c@d"}`), "contact.email", "more than once"},
		{"a duplicate map key", grantWith(`"quotas":{"a":"1","a":"2"}`), "quotas.a", "more than once"},
		{"NUL", `{"mpnId":"1\u0000","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`, "mpnId", "U+0000"},
		{"BEL", grantWith(`"contact":{"email":"a\u0007@b"}`), "contact.email", "U+0007"},
		{"ESC", `{"mpnId":"1","offer":"\u001b[31mgold","validFrom":"2024-01-01T00:00:00Z"}`, "offer", "U+001B"},
		{"DEL", grantWith(`"tags":["ok","a\u007f"]`), "tags[1]", "U+007F"},
		{"a C1 control", grantWith(`"quotas":{"a":"x\u0085y"}`), "quotas.a", "U+0085"},
		{"a control character in a map key", grantWith(`"quotas":{"a\u0000":"1"}`), "quotas.a\x00", "U+0000"},
		{"a newline in a single-line field", `{"mpnId":"1","offer":"gold\n","validFrom":"2024-01-01T00:00:00Z"}`, "offer", "U+000A"},
		{"a tab in a single-line field", grantWith(`"pools":[{"kind":"a\tb"}]`), "pools[0].kind", "U+0009"},
		{"NUL in a multiline field", grantWith(`"note":"line\n\u0000"`), "note", "U+0000"},
		{"one character over maxLength", `{"mpnId":"12345678901","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`, "mpnId", "11 characters long; at most 10"},
		{"a long name (60 KB)", `{"mpnId":"1","offer":"` + strings.Repeat("g", 60000) + `","validFrom":"2024-01-01T00:00:00Z"}`, "offer", "at most 64"},
		{"a list element over maxLength", grantWith(`"tags":["ok","123456789"]`), "tags[1]", "at most 8"},
		{"a map key over maxLength", grantWith(`"quotas":{"123456789":"1"}`), "quotas.123456789", "at most 8"},
		{"a map value over maxLength", grantWith(`"quotas":{"a":"123456789"}`), "quotas.a", "at most 8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { postRefused(t, f, auth, tc.body, tc.wantField, tc.wantText) })
	}
	if n := f.storedCount(); n != 0 {
		t.Errorf("%d refused bodies were stored", n)
	}
}

// What the text rules accept: U+FFFD sent as text, surrogate pairs (one character
// each), TAB/LF/CR in a multiline field, and a string of exactly maxLength characters.
func TestStrictBindingAcceptsValidTextUpToItsLimit(t *testing.T) {
	f := newFixture(t)
	auth := bearer(t, "alice", handlers.RolePlatform)
	body := `{"mpnId":"😀😀😀😀😀😀😀😀😀\ud83d\ude00","offer":"g` + "\uFFFD" + `\ufffd` + strings.Repeat("o", 61) + `",` +
		`"validFrom":"2024-01-01T00:00:00Z","tags":["12345678"],"quotas":{"12345678":"ü"},"note":"a\tb\r\nc"}`
	rec := f.do(http.MethodPost, "/v1/partners/1/grants", jsonBody(body), "Authorization", auth, "Content-Type", "application/json")
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := f.stored[0]
	if got.MpnID != strings.Repeat("😀", 10) || got.Offer != "g\uFFFD\uFFFD"+strings.Repeat("o", 61) ||
		got.Note != "a\tb\r\nc" || got.Quotas["12345678"] != "ü" || got.Tags[0] != "12345678" {
		t.Errorf("stored %+v", got)
	}
}

// postRefused posts body as a grant and wants 400 bad_request whose detail mentions
// wantText and whose field is wantField ("" when the problem concerns no single field,
// which then must carry none).
func postRefused(t *testing.T, f *fixture, auth, body, wantField, wantText string) {
	t.Helper()
	rec := f.do(http.MethodPost, "/v1/partners/1/grants", jsonBody(body), "Authorization", auth, "Content-Type", "application/json")
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
	}
	p := problemOf(t, rec)
	if p.Code != handlers.CodeBadRequest || !strings.Contains(p.Detail, wantText) {
		t.Errorf("problem %q %q, want bad_request mentioning %q", p.Code, p.Detail, wantText)
	}
	if field, _ := p.Extra["field"].(string); field != wantField {
		t.Errorf("field %q, want %q (detail %q)", field, wantField, p.Detail)
	}
}
