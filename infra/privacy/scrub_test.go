package privacy_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"ledger/domain"
	"ledger/projections"
)

// TestErasureRewritesOldRebuildReportsThatQuoteTheSubject: a rebuild report written
// before the erasure samples read-model rows naming alice (and bob). After alice's
// erasure the report is still there and still parses, with alice replaced by her erased
// marker and bob kept; reports that never named her are left untouched.
func TestErasureRewritesOldRebuildReportsThatQuoteTheSubject(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	l.do(platform, domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso"})
	l.do(platform, domain.RegisterUser{MPNID: mpn, By: platform, UserID: alice, AccountType: domain.AccountAAD, MPNLinked: true})
	dataDir := t.TempDir()
	naming, err := projections.WriteReport(dataDir, projections.RebuildReport{Projection: "users", FinishedAt: t0,
		Tables: []projections.TableDiff{{Table: "users", AddedRows: []map[string]any{{"user_id": alice}, {"user_id": bob}}}}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := projections.WriteReport(dataDir, projections.RebuildReport{Projection: "incidents", FinishedAt: t0,
		Tables: []projections.TableDiff{{Table: "incidents", AddedRows: []map[string]any{{"opened_by": bob}}}}})
	if err != nil {
		t.Fatal(err)
	}
	otherBefore, _ := os.ReadFile(other)
	reportDir := dataDir + "/" + projections.ReportDir
	if hits := filesContain(t, reportDir, alice); len(hits) != 1 {
		t.Fatalf("before the erasure the report should name alice: %v", hits)
	}

	erasure, err := l.eraser.ScrubbingFilesIn(reportDir).Erase(ctx, alice, "platform-operator@ledger.example", t0)
	if err != nil {
		t.Fatal(err)
	}
	if hits := filesContain(t, reportDir, alice); len(hits) != 0 {
		t.Errorf("after the erasure alice's e-mail is still in the rebuild reports %v", hits)
	}
	body, err := os.ReadFile(naming)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"user_id": "`+erasure.Erased+`"`) || !strings.Contains(string(body), bob) {
		t.Errorf("the rewritten report should show alice as %s and keep bob:\n%s", erasure.Erased, body)
	}
	if otherAfter, _ := os.ReadFile(other); string(otherAfter) != string(otherBefore) {
		t.Error("a report that never named alice was rewritten")
	}
}
