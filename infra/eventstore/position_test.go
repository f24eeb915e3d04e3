package eventstore

import (
	"fmt"
	"testing"
)

// Positions read back as they were written, and every other text reads as fmt.Sscanf
// read it before: the same position or an error.
func TestParsePositionReadsWhatStringWritesAndWhatItAlwaysRead(t *testing.T) {
	for _, p := range []Position{{}, {Commit: 1, Prepare: 1}, {Commit: 12, Prepare: 10}, {Commit: 1<<64 - 1, Prepare: 1<<64 - 1}} {
		got, err := ParsePosition(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePosition(%q) = %v, %v; want %v", p.String(), got, err, p)
		}
	}
	for _, s := range []string{"", "007", "12/", "/12", "12/x", "12abc", " 12", "+12", "-1", "12/10/3", "18446744073709551616", "1/18446744073709551616", "0x10", "１２"} {
		got, err := ParsePosition(s)
		want, wantErr := scanPosition(s)
		if got != want || (err == nil) != (wantErr == nil) {
			t.Errorf("ParsePosition(%q) = %v, %v; fmt read %v, %v", s, got, err, want, wantErr)
		}
	}
}

func BenchmarkParsePosition(b *testing.B) {
	for _, s := range []string{"123456", "123456/123400"} {
		b.Run(fmt.Sprintf("%q", s), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParsePosition(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
