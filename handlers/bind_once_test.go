package handlers_test

import (
	"reflect"
	"strings"
	"testing"

	"ledger/handlers"
)

// FuzzOneDecodeAcceptsOnlyWhatTheCarefulPathAccepts: BindJSON decodes a good body once
// and leaves everything else to the careful three-pass path, which words refusals.
// Whatever the body, the one decode may accept it only if the careful path accepts it
// too and decodes the same value; when it declines, it leaves the destination untouched.
func FuzzOneDecodeAcceptsOnlyWhatTheCarefulPathAccepts(f *testing.F) {
	for _, seed := range []string{
		validGrant,
		`{}`, `[]`, `null`, `""`, `0`, ``, ` `, `{`, `}`, ` {"mpnId":"1"} `, `{"mpnId":}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z"} trailing`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}{}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-13-45T99:00:00Z"}`,
		`{"mpnId":"","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":null,"offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":"12345678901","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","seats":1.5}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","seats":"1"}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","seats":1e400}`,
		`{"mpnId":"\u0000\ud800","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":"1\u0007","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":"1","mpnId":"2","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"MPNID":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","extra":1}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","pools":[null,{"kind":"a","granted":null}]}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","contact":null}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","contact":{}}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","contact":{"email":"a","email":"b"}}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","tags":["ok","123456789"]}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","tags":[null,"a"]}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","quotas":{"123456789":"a"}}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","quotas":{"a":"a","a":"b"}}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","note":"two\nlines\u007f"}`,
		`{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z","note":"two\nlines\ttab"}`,
		"\xef\xbb\xbf{}",
		"{\"mpnId\":\"\xff\",\"offer\":\"gold\",\"validFrom\":\"2024-01-01T00:00:00Z\"}",
		`{"a":` + strings.Repeat(`{"a":`, 500) + `1` + strings.Repeat("}", 501),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var once grantRequest
		if !handlers.DecodeAcceptable(body, &once) {
			if !reflect.ValueOf(once).IsZero() {
				t.Fatalf("declined %q but left %+v behind", body, once)
			}
			return
		}
		var careful grantRequest
		if err := handlers.BindCarefully(body, &careful); err != nil {
			t.Fatalf("one decode accepted %q, which the careful path refuses: %v", body, err)
		}
		if !reflect.DeepEqual(once, careful) {
			t.Fatalf("for %q one decode gives %+v, the careful path %+v", body, once, careful)
		}
	})
}

// TestOneDecodeTakesAGoodBody: the common case, a good body, is taken by the one decode
// (otherwise the fast path would be dead code and every body parsed three times).
func TestOneDecodeTakesAGoodBody(t *testing.T) {
	var req grantRequest
	if !handlers.DecodeAcceptable([]byte(validGrant), &req) {
		t.Fatalf("the one decode declined a good body")
	}
	if req.MpnID != "1234567" || req.Contact == nil || req.Contact.Email != "a@b" || len(req.Pools) != 1 {
		t.Fatalf("decoded %+v", req)
	}
}
