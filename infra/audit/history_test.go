package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"ledger/infra/audit"
	"ledger/infra/paging"
)

func TestHistoryPagesAreStableAndCoverTheStream(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			l := newLedger(t, s)
			l.enrolGold("1000001")
			l.enrolGold("1000002")
			ctx := context.Background()
			var revisions []uint64
			cursor := ""
			for {
				page, err := audit.History(ctx, s, "1000001", paging.Page{Cursor: cursor, Limit: 3})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page.Events {
					if e.Stream != "partner-1000001" {
						t.Fatalf("another partner's event in the history: %+v", e)
					}
					revisions = append(revisions, e.Revision)
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			if len(revisions) != 4 || revisions[0] != 0 || revisions[3] != 3 {
				t.Fatalf("revisions %v, want 0..3", revisions)
			}
			if _, err := audit.History(ctx, s, "1000001", paging.Page{Cursor: "x9", Limit: 3}); !errors.Is(err, paging.ErrBadCursor) {
				t.Fatalf("bad cursor: %v", err)
			}
		})
	}
}

func TestPartnerAsOfFoldsOnlyWhatHadHappened(t *testing.T) {
	s := backends[0].open(t)
	l := newLedger(t, s)
	l.enrolGold("1000001") // events at t0, t0+1h, t0+2h, t0+3h
	ctx := context.Background()
	for at, want := range map[time.Time]int{t0.Add(-time.Hour): 0, t0: 1, t0.Add(150 * time.Minute): 3, t0.Add(10 * time.Hour): 4} {
		st, err := audit.PartnerAsOf(ctx, s, "1000001", at)
		if err != nil {
			t.Fatal(err)
		}
		if st.Events != want || st.Partner.Enrolled() != (want > 0) {
			t.Errorf("as of %s: %d events folded, want %d", at, st.Events, want)
		}
		if _, activated := st.Partner.Activation(); activated != (want == 4) {
			t.Errorf("as of %s: activated %v", at, activated)
		}
	}
}

func TestExportWritesOneSealedEventPerLine(t *testing.T) {
	s := backends[0].open(t)
	l := newLedger(t, s)
	l.enrolGold("1000001")
	l.enrolGold("1000002")
	ctx := context.Background()
	for _, c := range []struct {
		filter audit.ExportFilter
		want   int
	}{
		{audit.ExportFilter{}, 8},
		{audit.ExportFilter{MPNID: "1000002"}, 4},
		{audit.ExportFilter{Since: time.Now().Add(time.Hour)}, 0},
	} {
		var buf bytes.Buffer
		n, err := audit.Export(ctx, s, &buf, c.filter)
		if err != nil || n != c.want {
			t.Fatalf("%+v: %d events, %v; want %d", c.filter, n, err, c.want)
		}
		lines := 0
		for sc := bufio.NewScanner(&buf); sc.Scan(); lines++ {
			var rec audit.Record
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || !bytes.Contains(rec.Metadata, []byte(`"hash"`)) {
				t.Fatalf("line %d: %s (%v)", lines, sc.Bytes(), err)
			}
		}
		if lines != c.want {
			t.Fatalf("%+v: %d lines, want %d", c.filter, lines, c.want)
		}
	}
}
