package handlers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"ledger/handlers"
)

// FuzzStrictBind drives arbitrary bodies through the whole server to a command route.
// Whatever the body, the answer is 201 (and the body was acceptable), or a 400/413
// problem with nothing stored: never a panic, never a 5xx.
func FuzzStrictBind(f *testing.F) {
	for _, seed := range []string{
		validGrant,
		`{}`, `[]`, `null`, `""`, `0`, ``, ` `, `{`, `}`, `{"mpnId":}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z"} trailing`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-13-45T99:00:00Z"}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","seats":1e400}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","seats":-9223372036854775809}`,
		`{"mpnId":"\u0000\ud800","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":"1","mpnId":2,"offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"MPNID":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","pools":[null,{"kind":"a","granted":null}]}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","contact":null}`,
		strings.Repeat("[", 20000),
		`{"a":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat("}", 5001),
		"\xef\xbb\xbf{}",
		"{\"mpnId\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	fx := newFixture(f)
	auth := bearer(f, "fuzzer", handlers.RolePlatform)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := fx.storedCount()
		rec := fx.do(http.MethodPost, "/v1/partners/1/grants", bytes.NewReader(body), "Authorization", auth, "Content-Type", "application/json")
		switch rec.Code {
		case http.StatusCreated:
			var strict grantRequest
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&strict); err != nil || strict.MpnID == "" && !bytes.Contains(body, []byte(`"mpnId"`)) {
				t.Fatalf("accepted a body the strict decoder refuses (%v): %q", err, body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			problemOf(t, rec)
			if fx.storedCount() != before {
				t.Fatalf("stored a refused body: %q", body)
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
