package handlers

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// InFlightLimits bound the work this process accepts at once (issue 10: past capacity
// the system must degrade, not collapse). A request beyond a bound is answered 503
// overloaded with Retry-After at once, before it is bound or decided (after its token
// is checked, and after a query's wait for minPosition, which does no work), instead of
// queueing behind the others until every client times out. Zero means unbounded.
type InFlightLimits struct {
	// Commands bounds the requests in flight on command routes (every non-GET route
	// that needs a token).
	Commands int
	// Queries bounds the requests in flight on query routes (every GET route that needs
	// a token), counted apart from commands so that a flood of one cannot starve the other.
	Queries int
	// PerPartner bounds the commands in flight on one partner's stream, so that one hot
	// partner cannot take every command slot from the others (its commands are queued and
	// appended together, so more of them make larger batches, not lost races).
	PerPartner int
	// PerPartnerQueries bounds the queries in flight about one partner, so that one hot
	// partner's reads (a dashboard, a client in a loop) cannot take every query slot from
	// the others. A query's partner is the one its route names in the path
	// (Route.PartnerParam: the MPN ID, or the contract ID that holds it); a query naming
	// no single partner (an account's plans, the rules) counts only against Queries.
	PerPartnerQueries int
	// RetryAfter is what 503 overloaded tells clients to wait (DefaultRetryAfter when 0).
	RetryAfter time.Duration
}

// DefaultRetryAfter is the Retry-After of an overloaded answer: a command takes
// milliseconds, so a second is enough for the load to have moved on.
const DefaultRetryAfter = time.Second

// Load classes of a route, also the "class" label of the rejection counter.
const (
	LoadClassCommand = "command"
	LoadClassQuery   = "query"
	// LoadClassConnection: a connection past the listener's bound (BoundConnections).
	LoadClassConnection = "connection"
)

// loadClassPlural names a load class in an overloaded answer's detail.
var loadClassPlural = map[string]string{LoadClassCommand: "commands", LoadClassQuery: "queries"}

// Rejection scopes: which bound refused the request; the "scope" label of the counter.
const (
	RejectScopeProcess = "process"
	RejectScopePartner = "partner"
)

// loadClassOf says which bound a route counts against. Public routes (health,
// readiness, metrics, the document) are never limited: an overloaded process must
// still tell its orchestrator and Prometheus how it is doing.
func loadClassOf(r Route) string {
	switch {
	case r.Public:
		return ""
	case r.Method == http.MethodGet:
		return LoadClassQuery
	default:
		return LoadClassCommand
	}
}

// inFlight is one process-wide bound: a counter admitted without waiting.
type inFlight struct {
	limit int64
	n     atomic.Int64
}

func (f *inFlight) admit() bool {
	if f.n.Add(1) > f.limit {
		f.n.Add(-1)
		return false
	}
	return true
}

func (f *inFlight) release() { f.n.Add(-1) }

// partnerGate bounds the requests of one load class in flight per partner. A partner's
// entry lives only while it has requests in flight, so the map is as large as the
// partners being served at this instant, never the partners ever seen.
type partnerGate struct {
	limit int
	mu    sync.Mutex
	n     map[string]int
}

func newPartnerGate(limit int) *partnerGate {
	return &partnerGate{limit: limit, n: map[string]int{}}
}

func (g *partnerGate) admit(mpnID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[mpnID] >= g.limit {
		return false
	}
	g.n[mpnID]++
	return true
}

func (g *partnerGate) release(mpnID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[mpnID]--; g.n[mpnID] <= 0 {
		delete(g.n, mpnID)
	}
}

// limiter holds the bounds of one server, by load class: per process and per partner.
type limiter struct {
	retryAfter time.Duration
	classes    map[string]*inFlight
	partners   map[string]*partnerGate
	rejected   func(class, scope string)
}

func newLimiter(l InFlightLimits, m HTTPMetrics) *limiter {
	lim := &limiter{retryAfter: l.RetryAfter, classes: map[string]*inFlight{}, partners: map[string]*partnerGate{},
		rejected: func(string, string) {}}
	if lim.retryAfter <= 0 {
		lim.retryAfter = DefaultRetryAfter
	}
	if l.Commands > 0 {
		lim.classes[LoadClassCommand] = &inFlight{limit: int64(l.Commands)}
	}
	if l.Queries > 0 {
		lim.classes[LoadClassQuery] = &inFlight{limit: int64(l.Queries)}
	}
	if l.PerPartner > 0 {
		lim.partners[LoadClassCommand] = newPartnerGate(l.PerPartner)
	}
	if l.PerPartnerQueries > 0 {
		lim.partners[LoadClassQuery] = newPartnerGate(l.PerPartnerQueries)
	}
	if m != nil {
		lim.rejected = m.ObserveRejected
	}
	return lim
}

// limiterKey is where the command middleware leaves the limiter for admitPartner.
const limiterKey = "handlers.limiter"

// middleware bounds the routes of class; nil when nothing bounds them. partnerOf tells
// the partner a request names in its path ("" for none): a query is admitted against
// that partner's bound here, since its path is all it has read. A command's partner may
// be in its body, so the route admits it once it knows it (admitPartner).
func (l *limiter) middleware(class string, partnerOf func(echo.Context) string) echo.MiddlewareFunc {
	bound, partners := l.classes[class], l.partners[class]
	if bound == nil && partners == nil {
		return nil
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if bound != nil {
				if !bound.admit() {
					l.rejected(class, RejectScopeProcess)
					return l.overloaded("this process has too many %s in flight", loadClassPlural[class])
				}
				defer bound.release()
			}
			switch {
			case partners == nil:
			case class == LoadClassCommand:
				c.Set(limiterKey, l)
			default:
				if mpnID := partnerOf(c); mpnID != "" {
					if !partners.admit(mpnID) {
						return l.refusePartner(class, mpnID)
					}
					defer partners.release(mpnID)
				}
			}
			return next(c)
		}
	}
}

// admitPartner is called by a command route once it knows the partner whose stream the
// command goes to (from the path, or from the contract in the body): a partner with
// PerPartner commands in flight is refused at once. release gives the slot back.
// Without a bound it admits everything.
func admitPartner(c echo.Context, mpnID string) (release func(), err error) {
	l, ok := c.Get(limiterKey).(*limiter)
	if !ok {
		return func() {}, nil
	}
	partners := l.partners[LoadClassCommand]
	if !partners.admit(mpnID) {
		return nil, l.refusePartner(LoadClassCommand, mpnID)
	}
	return func() { partners.release(mpnID) }, nil
}

// refusePartner counts and answers a request of class refused by mpnID's bound.
func (l *limiter) refusePartner(class, mpnID string) *Problem {
	l.rejected(class, RejectScopePartner)
	return l.overloaded("partner %s has too many %s in flight", mpnID, loadClassPlural[class])
}

// overloaded is the answer past a bound: 503 with Retry-After.
func (l *limiter) overloaded(format string, args ...any) *Problem {
	p := Problemf(http.StatusServiceUnavailable, CodeOverloaded, format+"; retry after "+l.retryAfter.String(), args...)
	p.RetryAfter = l.retryAfter
	return p
}
