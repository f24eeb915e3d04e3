package audit_test

import (
	"context"
	"testing"

	"ledger/infra/audit"
)

func TestACleanStoreReportsEveryEventChecked(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			l := newLedger(t, s)
			l.enrolGold("1000001")
			l.enrolGold("1000002")
			v, err := audit.Verify(context.Background(), s, "")
			if err != nil {
				t.Fatal(err)
			}
			if !v.Intact || v.EventsChecked != 8 || v.Streams != 2 || v.Broken != nil {
				t.Fatalf("want 8 events in 2 intact streams, got %+v", v)
			}
			one, err := audit.Verify(context.Background(), s, "partner-1000002")
			if err != nil || !one.Intact || one.EventsChecked != 4 {
				t.Fatalf("one stream: %+v %v", one, err)
			}
		})
	}
}

// Each case edits the stored log directly in the database, as an intruder with write
// access would, and expects the first broken link named.
func TestAnEditInTheDatabaseIsDetected(t *testing.T) {
	cases := []struct {
		name     string
		column   string // column to edit by replacing old with new; "" deletes the event
		old, new string
		at       uint64 // revision edited
		revision uint64 // revision where the break shows
		reason   string
	}{
		{"data of one event changed", "data", "Partner 1000001", "Partner 9999999", 0, 0, audit.BrokenContent},
		{"actor in the metadata changed", "metadata", "partner-center", "someone-else", 1, 1, audit.BrokenContent},
		{"type changed", "type", "MembershipGranted.v1", "MembershipEnded.v1", 1, 1, audit.BrokenContent},
		{"an event deleted", "", "", "", 2, 3, audit.BrokenRevision},
	}
	for _, b := range backends {
		for _, c := range cases {
			t.Run(b.name+"/"+c.name, func(t *testing.T) {
				s := b.open(t)
				l := newLedger(t, s)
				l.enrolGold("1000001")
				l.enrolGold("1000002")
				if c.column == "" {
					exec(t, s.DB(), "DELETE FROM event_log WHERE stream = ? AND revision = ?", "partner-1000001", c.at)
				} else {
					exec(t, s.DB(), "UPDATE event_log SET "+c.column+" = "+replaceExpr(s, c.column)+" WHERE stream = ? AND revision = ?",
						c.old, c.new, "partner-1000001", c.at)
				}
				for _, stream := range []string{"", "partner-1000001"} {
					v, err := audit.Verify(context.Background(), s, stream)
					if err != nil {
						t.Fatal(err)
					}
					if v.Intact || v.Broken == nil {
						t.Fatalf("stream %q: edit not detected: %+v", stream, v)
					}
					if v.Broken.Stream != "partner-1000001" || v.Broken.Revision != c.revision || v.Broken.Reason != c.reason {
						t.Fatalf("stream %q: want %s at revision %d, got %s", stream, c.reason, c.revision, v.Broken)
					}
					if v.Broken.Expected == v.Broken.Found {
						t.Fatalf("expected and found agree: %s", v.Broken)
					}
				}
			})
		}
	}
}

// A forger who recomputes the edited event's own hash still breaks the link to the next.
func TestAResealedEditBreaksTheNextLink(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			l := newLedger(t, s)
			l.enrolGold("1000001")
			forgeFirstEvent(t, s)
			v, err := audit.Verify(context.Background(), s, "")
			if err != nil {
				t.Fatal(err)
			}
			if v.Intact || v.Broken.Revision != 1 || v.Broken.Reason != audit.BrokenLink {
				t.Fatalf("want the link at revision 1 broken, got %+v", v)
			}
		})
	}
}
