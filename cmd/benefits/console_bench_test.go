package main

import (
	"net/http"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"ledger/handlers"
)

// consolePartnerEvents is the size of the partner's history the console is timed on.
const consolePartnerEvents = 5000

// BenchmarkConsoleFirstContentfulPaint loads each console page as a fresh document in
// headless Chromium on a partner with 5,000 events and reports, from the browser's
// performance timeline, the median first contentful paint (fcp-ms) and the instant
// the page's data is on screen (ready-ms, the console's own mark). Run it with
// -benchtime 5x: each iteration is one load of each page.
func BenchmarkConsoleFirstContentfulPaint(b *testing.B) {
	s := startSystem(b, testConfig(b), wireOptions{})
	fs := runFirstSession(b, s)
	for events := 6; events < consolePartnerEvents; events++ { // the first session wrote 6
		s.open(b, fs.adminTok, cloudIncident(fs.contractID, "Azure")).want(b, http.StatusCreated)
	}
	auditor := bearerFor(b, "auditor-1", handlers.RoleAuditor, handlers.RoleOps)
	tab := openTab(b)
	tab.run("open the console", chromedp.Navigate(s.url+"/"))
	for _, p := range []struct{ page, hash, token string }{
		{"dashboard", "#/dashboard/" + fs.mpn, fs.adminTok},
		{"timeline", "#/timeline/" + fs.mpn, auditor},
		{"ops", "#/ops", auditor},
		{"api", "#/api", auditor},
	} {
		b.Run(p.page, func(b *testing.B) {
			tab.t = b
			var fcp, ready []float64
			for b.Loop() {
				// Leave the origin, so the page is a new document and not a hash change.
				tab.run("sign in", tab.js(`sessionStorage.setItem("benefits.token", `+jsString(p.token)+`)`), chromedp.Navigate("about:blank"))
				tab.visit(s.url+"/"+p.hash, p.page)
				m := evaluate[map[string]float64](tab, `({fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1,
					ready: performance.getEntriesByName('console:ready:`+p.page+`')[0]?.startTime ?? -1})`)
				if m["fcp"] < 0 || m["ready"] < 0 {
					b.Fatalf("%s: no paint or ready entry on the timeline: %v", p.page, m)
				}
				fcp, ready = append(fcp, m["fcp"]), append(ready, m["ready"])
			}
			b.ReportMetric(median(fcp), "fcp-ms")
			b.ReportMetric(median(ready), "ready-ms")
			b.ReportMetric(0, "ns/op") // a browser load, not a Go operation
			tab.requireClean()
		})
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
