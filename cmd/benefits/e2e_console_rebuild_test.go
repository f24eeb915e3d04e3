package main

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/uptrace/bun"

	"ledger/handlers"
	"ledger/infra/eventstore"
	"ledger/infra/testkit"
	"ledger/projections"
)

// rebuildGate holds every rebuild of the read models it wraps at its second batch,
// after the first one is folded and its progress told, until released: the test sees
// a rebuild mid-way without depending on how fast it runs.
type rebuildGate struct {
	applies atomic.Int64
	held    chan struct{} // closed when the second batch waits
	release chan struct{}
}

func newRebuildGate() *rebuildGate {
	return &rebuildGate{held: make(chan struct{}), release: make(chan struct{})}
}

func (g *rebuildGate) wrap(p projections.Projection) projections.Projection {
	return gatedModel{Projection: p, gate: g}
}

type gatedModel struct {
	projections.Projection
	gate *rebuildGate
}

func (m gatedModel) Apply(ctx context.Context, tx bun.Tx, t projections.Tables, batch []eventstore.RecordedEvent) error {
	if m.gate.applies.Add(1) == 2 {
		close(m.gate.held)
		select {
		case <-m.gate.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return m.Projection.Apply(ctx, tx, t, batch)
}

// smallBatches makes rebuilds started over HTTP fold size events per transaction, so a
// short log takes several batches.
type smallBatches struct {
	handlers.RebuildJobs
	size int
}

func (s smallBatches) Start(name string, opts projections.RebuildOptions) (projections.RebuildJobStatus, error) {
	opts.BatchSize = s.size
	return s.RebuildJobs.Start(name, opts)
}

// TestOpsWatchARebuildsProgressThenItsDiffAndSwapInTheConsole: someone edits the live
// incidents read model behind the ledger's back (one title changed, one row deleted);
// an operator starts a real rebuild of it in the console and watches it live: the
// progress bar part-way, events per second and an ETA while it runs; then the outcome:
// swapped in as generation 2, the diff of the live rows before the swap against the
// rebuilt ones (one added, one changed, with the changed title before and after), and
// the API answering the rebuilt rows.
func TestOpsWatchARebuildsProgressThenItsDiffAndSwapInTheConsole(t *testing.T) {
	gate := newRebuildGate()
	s := startSystem(t, testConfig(t), wireOptions{wrapRebuildModel: gate.wrap,
		wrapRebuilds: func(j handlers.RebuildJobs) handlers.RebuildJobs { return smallBatches{RebuildJobs: j, size: 3} }})
	fs := runFirstSession(t, s)
	s.open(t, fs.adminTok, incident{"contractId": fs.contractID, "kind": "product-support", "product": "SQL Server",
		"version": "2025", "title": "Backups fail"}).want(t, http.StatusCreated)
	head, err := s.proc.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.caughtUp(t, projections.IncidentsName, head)
	live := projections.PhysicalName(projections.IncidentsName, 1)
	for _, q := range []string{
		"UPDATE " + live + " SET title = 'Slow queries (edited by hand)' WHERE title = 'Slow queries'",
		"DELETE FROM " + live + " WHERE title = 'Backups fail'",
	} {
		if _, err := s.proc.readDB.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	b := openTab(t)
	b.run("open the console", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	b.signIn(bearerFor(t, "ops-1", handlers.RoleOps), "ops-1")
	b.goTo("#/ops", "ops")
	b.run("rebuild incidents", chromedp.SetValue(chromedp.ID("rebuild-name"), projections.IncidentsName),
		chromedp.Click(chromedp.ID("rebuild-start")))
	select {
	case <-gate.held:
	case <-time.After(testkit.HangBound):
		t.Fatal("the rebuild never reached its second batch")
	}

	// Mid-way: the first batch is folded, the second is held.
	value(b, "progress part-way", chromedp.Poll[bool](`(() => { const bar = document.getElementById('rebuild-bar');
		return !!bar && bar.value > 0 && bar.value < 1; })()`, chromedp.WithPollingInterval(50*time.Millisecond)))
	pct, rate, eta := b.text("#rebuild-percent"), b.text("#rebuild-rate"), b.text("#rebuild-eta")
	if pct == "0%" || pct == "100%" || rate == "0 events/s" || !strings.HasSuffix(rate, " events/s") || !strings.HasPrefix(eta, "ETA ") || eta == "ETA —" {
		t.Errorf("mid-way the rebuild shows %q, %q, %q; want a share between 0 and 100%%, a rate and an ETA", pct, rate, eta)
	}
	if text := b.bodyText(); strings.Contains(text, "Swapped in") {
		t.Errorf("the held rebuild already shows an outcome: %.600q", text)
	}
	b.screenshots("ops-rebuild-progress")

	close(gate.release)
	b.run("outcome", chromedp.WaitVisible(chromedp.ID("rebuild-swap")))
	if got := b.text("#rebuild-swap"); !strings.Contains(got, "Swapped in: generation 2 is now the live incidents") {
		t.Errorf("outcome says %q, want swapped in as generation 2", got)
	}
	if got := b.text("#rebuild-summary"); !strings.Contains(got, "incidents: generation 1 → 2") || !strings.Contains(got, "swapped in") {
		t.Errorf("rebuild summary %q", got)
	}
	row := evaluate[[]string](b, `(() => { const r = [...document.querySelectorAll('#rebuild-outcome tbody tr')]
		.find((r) => r.cells[0].textContent === 'incidents'); return r ? [...r.cells].map((c) => c.textContent) : []; })()`)
	if want := []string{"incidents", "1 → 2", "1", "0", "1"}; len(row) < 5 || strings.Join(row[:5], "|") != strings.Join(want, "|") {
		t.Errorf("diff row %q, want %q", row, want)
	}
	b.run("open the samples", chromedp.Click(chromedp.CSS(`#rebuild-outcome details.samples summary`)))
	samples := b.text(`#rebuild-outcome details.samples pre`)
	if !strings.Contains(samples, `title: "Slow queries (edited by hand)" → "Slow queries"`) || !strings.Contains(samples, "Backups fail") {
		t.Errorf("samples do not show the changed title before and after and the added row:\n%s", samples)
	}
	b.screenshots("ops-rebuild-swapped")

	// The swapped-in generation is what the API now answers.
	var page struct {
		Incidents []struct {
			Title string `json:"title"`
		} `json:"incidents"`
	}
	s.get(t, "/v1/partners/"+fs.mpn+"/incidents", fs.adminTok).want(t, http.StatusOK).decode(t, &page)
	var titles []string
	for _, in := range page.Incidents {
		titles = append(titles, in.Title)
	}
	if got := strings.Join(titles, "|"); !strings.Contains(got, "Slow queries") || strings.Contains(got, "edited by hand") || !strings.Contains(got, "Backups fail") {
		t.Errorf("after the swap the API answers incidents %q", got)
	}
	b.requireClean()
}
