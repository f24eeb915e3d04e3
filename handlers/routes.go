package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// Route is one entry of the route table. The same table registers the Echo routes and
// builds the OpenAPI document, so the two cannot drift apart.
type Route struct {
	Method  string // GET, POST, ...
	Path    string // Echo syntax: /v1/partners/:mpnId
	Summary string
	// Public routes need no token; all others need a valid bearer token.
	Public bool
	// Roles, when set, admits only callers holding one of these system roles (403
	// otherwise). When empty, any authenticated caller reaches the handler and the domain
	// decides (partner users act by their own identity).
	Roles []SystemRole
	// Request is a zero value of the body type (nil: no body). Its Go type name is the
	// schema name in the document; route handlers bind it with Bind. Every field holding
	// text needs a `maxLength` tag (text_rules.go); Deps.Validate says which lack one.
	Request any
	// Response is a zero value of the success body type (nil: no body).
	Response any
	// Statuses are the success statuses (default 200), e.g. 201 and 200 for "created or
	// already there".
	Statuses []int
	// Location: the success answer carries a Location header (the resource it started).
	Location bool
	// NoIdempotencyKey: a command route that does not record through the executor, so
	// it takes no Idempotency-Key (idempotency_key.go); the document says so by not
	// offering the header.
	NoIdempotencyKey bool
	// ResponseType is the success answer's media type when it is not JSON (then
	// Response is nil), e.g. text/event-stream.
	ResponseType string
	// Problems documents the problems only this route answers, by status (e.g. 503
	// not_ready of /readyz); the ones every route of its kind answers are implied.
	Problems map[int]string
	// Query lists the query parameters the route reads, for the OpenAPI document
	// (minPosition is implied by Projection).
	Query []QueryParam
	// Projection names the read model a query route reads. Setting it makes the route a
	// query: minPosition / X-Min-Position are honoured and X-Projection-Position answered.
	Projection string
	// PartnerParam names the path parameter holding the MPN ID of the one partner whose
	// rows a query route (a GET that needs a token) reads: its read-your-writes wait is
	// then for that partner's partition only, and it counts against that partner's
	// query bound (InFlightLimits.PerPartnerQueries). Empty: the query may read any
	// partner's rows, waits for all, and is bound only per process.
	PartnerParam string
	// PartnerOf, when set, reads the partner's MPN ID out of PartnerParam's value when
	// that is not the MPN ID itself but an ID that names it (a contract ID); a value it
	// cannot read waits for every partner.
	PartnerOf func(param string) (mpnID string, ok bool)
	// LongRunning routes answer when their work is done (a walk of the whole log) or
	// stream it (a rebuild's events), and may take longer than the server's read and write timeouts, which are
	// sized for ordinary requests: see liftDeadlines.
	LongRunning bool
	Handler     echo.HandlerFunc
}

func (r Route) successStatuses() []int {
	if len(r.Statuses) == 0 {
		return []int{http.StatusOK}
	}
	return r.Statuses
}

// partnerOfRequest tells the partner whose rows a request of route r reads ("" for any
// partner's): from its PartnerParam, read by PartnerOf when set. Its read-your-writes
// wait and its per-partner bound both ask it, so the two agree on the partner.
func (r Route) partnerOfRequest() func(echo.Context) string {
	return func(c echo.Context) string {
		if r.PartnerParam == "" {
			return ""
		}
		v := c.Param(r.PartnerParam)
		if r.PartnerOf == nil {
			return v
		}
		mpn, ok := r.PartnerOf(v)
		if !ok {
			return ""
		}
		return mpn
	}
}

// builtinRoutes are served by every process, whatever its role.
func builtinRoutes(d Deps, openAPI []byte) []Route {
	routes := []Route{
		{Method: http.MethodGet, Path: "/healthz", Summary: "Liveness: the process serves HTTP", Public: true,
			Response: Liveness{}, Handler: healthz(d.Build)},
		{Method: http.MethodGet, Path: "/readyz", Summary: "Readiness: every store and NATS answers", Public: true,
			Response: Readiness{}, Handler: readyz(d.Checkers, d.ReadyTimeout),
			Problems: map[int]string{http.StatusServiceUnavailable: "not_ready: a store or NATS does not answer; detail names which"}},
		{Method: http.MethodGet, Path: "/openapi.json", Summary: "This OpenAPI document", Public: true,
			Handler: func(c echo.Context) error {
				return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPI)
			}},
	}
	if d.Metrics != nil {
		routes = append(routes, metricsRoute(d.Metrics))
	}
	return routes
}

var knownMethods = map[string]bool{http.MethodGet: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true}

// validateRoutes catches table mistakes at start-up, where they are cheap to fix.
func validateRoutes(routes []Route, hasProjections bool) error {
	var errs []error
	seen := map[string]bool{}
	for _, r := range routes {
		id := r.Method + " " + r.Path
		switch {
		case !knownMethods[r.Method]:
			errs = append(errs, fmt.Errorf("route %s: unsupported method", id))
		case !strings.HasPrefix(r.Path, "/") || strings.Contains(r.Path, "*"):
			errs = append(errs, fmt.Errorf("route %s: path must start with / and have no wildcard", id))
		case r.Handler == nil:
			errs = append(errs, fmt.Errorf("route %s: no handler", id))
		case seen[id]:
			errs = append(errs, fmt.Errorf("route %s: registered twice", id))
		case r.Projection != "" && !hasProjections:
			errs = append(errs, fmt.Errorf("route %s: query on projection %q but Deps.Projections is nil", id, r.Projection))
		case r.Public && len(r.Roles) > 0:
			errs = append(errs, fmt.Errorf("route %s: public routes cannot demand roles", id))
		case r.PartnerParam != "" && (loadClassOf(r) != LoadClassQuery || !slices.Contains(strings.Split(r.Path, "/"), ":"+r.PartnerParam)):
			errs = append(errs, fmt.Errorf("route %s: partner parameter %q is not a parameter of a query path", id, r.PartnerParam))
		case r.PartnerOf != nil && r.PartnerParam == "":
			errs = append(errs, fmt.Errorf("route %s: PartnerOf reads no parameter: set PartnerParam", id))
		}
		for status := range r.Problems {
			if status < 400 || status > 599 {
				errs = append(errs, fmt.Errorf("route %s: problem status %d is not an error status", id, status))
			}
		}
		if err := checkQueryParams(r.Query); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", id, err))
		}
		for _, v := range []any{r.Request, r.Response} {
			if v != nil && reflect.TypeOf(v).Name() == "" {
				errs = append(errs, fmt.Errorf("route %s: body type %T has no name for the schema", id, v))
			}
		}
		if r.Request != nil {
			if err := checkTextLimits(reflect.TypeOf(r.Request)); err != nil {
				errs = append(errs, fmt.Errorf("route %s: %w", id, err))
			}
		}
		seen[id] = true
	}
	return errors.Join(errs...)
}

// register adds one route with its per-route middleware: authentication, the
// read-your-writes wait, then the in-flight bounds of its class (the process's, then
// its partner's), so that the bounds count the requests doing work. A query waiting
// for minPosition holds no connection and no CPU, only a goroutine, for at most
// --query-wait; counted against the bounds, a burst of such waits after a burst of
// commands filled them and turned the reads that followed into 503s with Retry-After,
// a second of visibility latency each (issue 10). Only an authenticated caller waits,
// and authentication of a known token is a cache lookup, so the bounds still refuse
// cheaply.
func (s *server) register(e *echo.Echo, r Route) {
	var mws []echo.MiddlewareFunc
	if r.LongRunning {
		mws = append(mws, liftDeadlines(s.deps.WriteTimeout))
	}
	if !r.Public {
		mws = append(mws, s.auth.require(r.Roles))
	}
	if r.Projection != "" {
		mws = append(mws, awaitProjection(s.deps.Projections, r.Projection, r.partnerOfRequest(), s.deps.QueryWait))
	}
	if limit := s.limiter.middleware(loadClassOf(r), r.partnerOfRequest()); limit != nil {
		mws = append(mws, limit)
	}
	// Composed here, once: Echo composes a route's middleware anew on every request
	// (a closure per middleware), part of what a CPU profile under query load found
	// the middleware chain costing (issue 10). Same order as Echo's: mws[0] outermost.
	h := r.Handler
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	e.Add(r.Method, r.Path, h)
}
