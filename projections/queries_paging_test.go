package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/paging"
)

const busy = "2000001" // a Gold partner with a cloud competency: unlimited Signature Cloud incidents

// openIncidents opens n Signature Cloud incidents (an unlimited pool, R7) as admin and
// returns their IDs in the order opened.
func (s *scenario) openIncidents(admin domain.Actor, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		out := s.do(admin, domain.OpenIncident{MPNID: busy, By: admin, Plan: domain.PlanSignatureCloud, Product: "Azure",
			Title: fmt.Sprintf("incident %d", i)})
		ids[i] = out.Events[0].(domain.IncidentOpened).IncidentID
		s.now = s.now.Add(time.Minute)
	}
	return ids
}

// walkIncidents reads pages from cursor on until the last, calling between(pageNo)
// after each page; it returns the IDs listed and the number of pages.
func walkIncidents(t *testing.T, rm *ReadModels, status domain.IncidentStatus, limit int, between func(page int)) ([]string, int) {
	t.Helper()
	var ids []string
	page := paging.Page{Limit: limit}
	for n := 1; ; n++ {
		in, err := rm.Incidents(context.Background(), busy, status, page)
		must(t, err)
		if len(in.Incidents) > limit {
			t.Fatalf("page %d holds %d incidents, limit %d", n, len(in.Incidents), limit)
		}
		for _, i := range in.Incidents {
			ids = append(ids, i.IncidentID)
		}
		if in.NextCursor == "" {
			return ids, n
		}
		between(n)
		page.Cursor = in.NextCursor
	}
}

// A client walking a partner's incidents page by page gets each exactly once, in the
// order opened, even while incidents are opened and closed during the walk: the pages
// are read by key, so new incidents come at the end and none repeats or is skipped.
func TestIncidentPagesListEachIncidentOnceInOrderWhileNewOnesAreOpened(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		s := newScenario(t, h)
		s.now = t0.Add(-24 * time.Hour)
		admin := s.enrolWithAdmin(busy, false, domain.LevelGold, "Cloud Platform", t0.Add(-24*time.Hour), t0.Add(365*24*time.Hour))
		s.activateAndLink(busy, admin)
		want := s.openIncidents(admin, 250)
		rm, r := s.serve()

		got, pages := walkIncidents(t, rm, "", 100, func(page int) {
			if page != 1 {
				return
			}
			// Between the first and the second page: 30 more incidents, and one already
			// listed and one not yet listed are closed.
			want = append(want, s.openIncidents(admin, 30)...)
			for _, id := range []string{want[10], want[200]} {
				s.do(admin, domain.CloseIncident{MPNID: busy, By: admin, IncidentID: id, Resolution: "done"})
			}
			s.waitAll(r.Checkpoints())
		})
		if !slices.Equal(got, want) {
			t.Fatalf("walked %d incidents in %d pages; want the %d opened, once each, in order\n got: %v", len(got), pages, len(want), got)
		}
		if pages != 3 {
			t.Errorf("280 incidents in pages of 100: %d pages, want 3", pages)
		}

		open, _ := walkIncidents(t, rm, domain.IncidentStatusOpen, 7, func(int) {})
		wantOpen := slices.DeleteFunc(slices.Clone(want), func(id string) bool { return id == want[10] || id == want[200] })
		if !slices.Equal(open, wantOpen) {
			t.Errorf("open incidents in pages of 7: %d listed, want %d", len(open), len(wantOpen))
		}
		closed, _ := walkIncidents(t, rm, domain.IncidentStatusClosed, 1, func(int) {})
		if !slices.Equal(closed, []string{want[10], want[200]}) {
			t.Errorf("closed incidents in pages of 1: %v", closed)
		}
	})
}

// A limit outside 1..1000, or a cursor the list did not hand out (altered, made for
// another partner or another filter), is refused by name; it never answers a page.
func TestIncidentPagesRefuseABadLimitOrACursorOfAnotherList(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		s := newScenario(t, h)
		s.now = t0
		admin := s.enrolWithAdmin(busy, false, domain.LevelGold, "Cloud Platform", t0, t0.Add(365*24*time.Hour))
		s.activateAndLink(busy, admin)
		s.openIncidents(admin, 3)
		rm, _ := s.serve()
		ctx := context.Background()
		first, err := rm.Incidents(ctx, busy, "", paging.Page{Limit: 1})
		must(t, err)
		if first.NextCursor == "" {
			t.Fatal("3 incidents in pages of 1: the first page has no next cursor")
		}
		for _, c := range []struct {
			name   string
			mpn    string
			status domain.IncidentStatus
			page   paging.Page
			want   error
		}{
			{"a negative limit", busy, "", paging.Page{Limit: -1}, paging.ErrBadLimit},
			{"limit over the maximum", busy, "", paging.Page{Limit: paging.MaxLimit + 1}, paging.ErrBadLimit},
			{"garbage", busy, "", paging.Page{Cursor: "not a cursor"}, paging.ErrBadCursor},
			{"altered by a character", busy, "", paging.Page{Cursor: first.NextCursor[:len(first.NextCursor)-1] + "x"}, paging.ErrBadCursor},
			{"another partner's", "2000002", "", paging.Page{Cursor: first.NextCursor}, paging.ErrBadCursor},
			{"another filter's", busy, domain.IncidentStatusOpen, paging.Page{Cursor: first.NextCursor}, paging.ErrBadCursor},
			{"a negative number", busy, "", paging.Page{Cursor: paging.Encode("incidents/"+busy+"/", incidentKey{Seq: -5})}, paging.ErrBadCursor},
		} {
			if got, err := rm.Incidents(ctx, c.mpn, c.status, c.page); !errors.Is(err, c.want) {
				t.Errorf("%s: %+v, %v; want %v", c.name, got, err, c.want)
			}
		}
	})
}

// The accounts linked to a contract page like the incidents: in link order, each once.
func TestLinkedAccountPagesListEachAccountOnceInLinkOrder(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		s := newScenario(t, h)
		s.now = t0
		admin := s.enrolWithAdmin(busy, false, domain.LevelGold, "Cloud Platform", t0, t0.Add(365*24*time.Hour))
		contract := s.activateAndLink(busy, admin)
		want := []string{admin.UserID}
		for i := range 6 {
			u := fmt.Sprintf("engineer%d@%s", i, busy)
			s.do(platformActor, domain.RegisterUser{MPNID: busy, By: platformActor, UserID: u, AccountType: domain.AccountAAD, MPNLinked: true})
			s.do(admin, domain.LinkContract{MPNID: busy, By: admin, UserID: u, AccessID: s.accessID(busy), ContractID: contract})
			want = append(want, u)
		}
		rm, _ := s.serve()
		var got []string
		page := paging.Page{Limit: 3}
		for pages := 1; ; pages++ {
			la, err := rm.LinkedAccounts(context.Background(), contract, page)
			must(t, err)
			for _, a := range la.Accounts {
				got = append(got, a.UserID)
			}
			if la.NextCursor == "" {
				if pages != 3 {
					t.Errorf("7 accounts in pages of 3: %d pages", pages)
				}
				break
			}
			page.Cursor = la.NextCursor
		}
		if !slices.Equal(got, want) {
			t.Fatalf("linked accounts %v, want %v", got, want)
		}
		if _, err := rm.LinkedAccounts(context.Background(), contract+"x", page); !errors.Is(err, paging.ErrBadCursor) {
			t.Errorf("a cursor of another contract: %v", err)
		}
	})
}
