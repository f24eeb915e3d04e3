package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"ledger/handlers"
)

// net/url drops the pairs it cannot parse and Echo's QueryParam then sees nothing, so a
// malformed query used to be answered as if the parameter were absent (a ';' made
// "?minPosition=9999;x" answer at once instead of waiting). Every route now refuses it
// with a 400 naming the parameter.
func TestMalformedQueryStringsAre400NamingTheParameter(t *testing.T) {
	f := newFixture(t)
	auth := bearer(t, "alice")
	cases := []struct {
		name, query, wantField, wantText string
	}{
		{"a ';' after a value", "minPosition=9999;x", "minPosition", "';'"},
		{"a ';' as the separator", "q=a;minPosition=9999", "q", "';'"},
		{"a ';' in a name", "a;b=1", "a;b", "';'"},
		{"a bad %-escape in a value", "minPosition=%zz", "minPosition", "invalid URL escape"},
		{"a truncated %-escape", "q=a%2", "q", "invalid URL escape"},
		{"a parameter given twice", "minPosition=0&minPosition=9999", "minPosition", "more than once"},
		{"a parameter given twice, escaped differently", "q=1&%71=2", "q", "more than once"},
		{"an escaped NUL", "q=a%00", "q", "U+0000"},
		{"an escaped newline", "q=a%0Ab", "q", "U+000A"},
		{"escaped invalid UTF-8", "q=%FF", "q", "UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(http.MethodGet, "/v1/things/1?"+tc.query, nil, "Authorization", auth)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
			}
			p := problemOf(t, rec)
			if p.Code != handlers.CodeBadRequest || !strings.Contains(p.Detail, tc.wantText) || p.Extra["field"] != tc.wantField {
				t.Errorf("problem %q field %q %q; want bad_request on %q mentioning %q", p.Code, p.Extra["field"], p.Detail, tc.wantField, tc.wantText)
			}
		})
	}
	t.Run("a command route with a malformed query stores nothing", func(t *testing.T) {
		rec := f.do(http.MethodPost, "/v1/partners/1/grants?dryRun=true;x", jsonBody(validGrant), "Authorization", auth)
		if rec.Code != http.StatusBadRequest || problemOf(t, rec).Extra["field"] != "dryRun" {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if f.storedCount() != 0 {
			t.Error("stored a command sent with a malformed query")
		}
	})
}

// Well-formed queries pass: escaped ';' and '&', UTF-8 text, empty pairs and values.
func TestWellFormedQueryStringsAreServed(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{"", "minPosition=0", "minPosition=0&q=a%3Bb%26c", "q=caf%C3%A9+au+lait", "q=&&r", "q=%EF%BF%BD"} {
		rec := f.do(http.MethodGet, "/v1/things/1?"+q, nil, "Authorization", bearer(t, "alice"))
		if rec.Code != http.StatusOK {
			t.Errorf("?%s: status %d: %s", q, rec.Code, rec.Body)
		}
	}
}
