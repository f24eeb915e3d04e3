package eventstore

import "testing"

// A position read back from its String form is the same position, and anything else
// (a header or query parameter a client mistyped) is refused rather than read in part.
func TestParsePositionReadsBackStringFormAndRefusesTheRest(t *testing.T) {
	for _, p := range []Position{Start, {Commit: 12, Prepare: 12}, {Commit: 12, Prepare: 10},
		{Commit: 1<<64 - 1, Prepare: 7}} {
		got, err := ParsePosition(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePosition(%q) = %v, %v; want %v", p.String(), got, err, p)
		}
	}
	for _, bad := range []string{"", "12abc", "12/10x", "+12", " 12", "12 ", "-1", "12/", "/10", "1/2/3", "18446744073709551616"} {
		if got, err := ParsePosition(bad); err == nil {
			t.Errorf("ParsePosition(%q) = %v; want an error", bad, got)
		}
	}
}
