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
	// Query lists the query parameters the route reads, for the OpenAPI document
	// (minPosition is implied by Projection).
	Query []QueryParam
	// Projection names the read model a query route reads. Setting it makes the route a
	// query: minPosition / X-Min-Position are honoured and X-Projection-Position answered.
	Projection string
	// PartnerParam names the path parameter holding the MPN ID of the one partner whose
	// rows a query route reads: its read-your-writes wait is then for that partner's
	// partition only. Empty: the query may read any partner's rows and waits for all.
	PartnerParam string
	// LongRunning routes answer when their work is done (a rebuild, a walk of the whole
	// log) and may take longer than the server's read and write timeouts, which are
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

// builtinRoutes are served by every process, whatever its role.
func builtinRoutes(d Deps, openAPI []byte) []Route {
	routes := []Route{
		{Method: http.MethodGet, Path: "/healthz", Summary: "Liveness: the process serves HTTP", Public: true,
			Response: Liveness{}, Handler: healthz},
		{Method: http.MethodGet, Path: "/readyz", Summary: "Readiness: every store and NATS answers", Public: true,
			Response: Readiness{}, Handler: readyz(d.Checkers, d.ReadyTimeout)},
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
		case r.PartnerParam != "" && (r.Projection == "" || !slices.Contains(strings.Split(r.Path, "/"), ":"+r.PartnerParam)):
			errs = append(errs, fmt.Errorf("route %s: partner parameter %q is not a parameter of a query path", id, r.PartnerParam))
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

// register adds one route with its per-route middleware: the in-flight bound of its
// class (first, so that an overloaded process refuses at the least cost), authentication,
// then the read-your-writes wait.
func (s *server) register(e *echo.Echo, r Route) {
	var mws []echo.MiddlewareFunc
	if r.LongRunning {
		mws = append(mws, liftDeadlines(s.deps.WriteTimeout))
	}
	if limit := s.limiter.middleware(loadClassOf(r)); limit != nil {
		mws = append(mws, limit)
	}
	if !r.Public {
		mws = append(mws, s.auth.require(r.Roles))
	}
	if r.Projection != "" {
		mws = append(mws, awaitProjection(s.deps.Projections, r.Projection, r.PartnerParam, s.deps.QueryWait))
	}
	e.Add(r.Method, r.Path, r.Handler, mws...)
}
