package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/eventstore"
	"ledger/infra/logline"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// grantRequest is a command body shaped like the real ones: required fields, an
// optional one, a time, a nested object, a list of objects, a list and a map of strings
// and a multiline note.
type grantRequest struct {
	MpnID     string            `json:"mpnId" binding:"required" maxLength:"10"`
	Offer     string            `json:"offer" binding:"required" maxLength:"64" enum:"level"`
	Seats     int               `json:"seats"`
	ValidFrom time.Time         `json:"validFrom" binding:"required"`
	Contact   *contactInfo      `json:"contact"`
	Pools     []poolSpec        `json:"pools"`
	Tags      []string          `json:"tags" maxLength:"8"`
	Quotas    map[string]string `json:"quotas" maxLength:"8"`
	Note      string            `json:"note" maxLength:"65536" multiline:"true"`
}

type contactInfo struct {
	Email string `json:"email" binding:"required" maxLength:"254"`
}

type poolSpec struct {
	Kind    string `json:"kind" binding:"required" maxLength:"64"`
	Granted *int   `json:"granted"`
}

type grantAnswer struct {
	Position string `json:"position"`
}

type thingView struct {
	ID      string     `json:"id"`
	Granted *int       `json:"granted"`  // null: unlimited
	Closed  *time.Time `json:"closedAt"` // null: still open
	Note    string     `json:"note,omitempty"`
}

// positionBoard is an in-memory projection-position tracker with the semantics the
// projection runner promises: WaitFor returns once the position is reached, or with
// ctx's error.
type positionBoard struct {
	mu      sync.Mutex
	at      map[string]eventstore.Position
	changed chan struct{}
	// waiting, when set, hears of every WaitFor that has to wait: a test then knows,
	// without timing, that a query is parked on a position.
	waiting chan eventstore.Position
	asked   []string // the partner of each wait, "" for a query of any partner's rows
}

func newPositionBoard() *positionBoard {
	return &positionBoard{at: map[string]eventstore.Position{}, changed: make(chan struct{})}
}

// partnersAsked is the partner of each wait so far, in order.
func (b *positionBoard) partnersAsked() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.asked)
}

func (b *positionBoard) advance(projection string, pos eventstore.Position) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.at[projection] = pos
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *positionBoard) PartnerReached(projection, mpnID string, pos eventstore.Position) (eventstore.Position, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at := b.at[projection]
	if at.Less(pos) {
		return at, false // WaitForPartner notes the wait
	}
	b.asked = append(b.asked, mpnID)
	return at, true
}

func (b *positionBoard) WaitForPartner(ctx context.Context, projection, mpnID string, pos eventstore.Position) (eventstore.Position, error) {
	b.mu.Lock()
	b.asked = append(b.asked, mpnID)
	b.mu.Unlock()
	for {
		b.mu.Lock()
		at := b.at[projection]
		changed := b.changed
		b.mu.Unlock()
		if !at.Less(pos) {
			return at, nil
		}
		if b.waiting != nil {
			b.waiting <- pos
		}
		select {
		case <-ctx.Done():
			return at, fmt.Errorf("projection %s at %s: %w", projection, at, ctx.Err())
		case <-changed:
		}
	}
}

// fixture is a server with a command route, a query route, an admin-only route and
// routes that fail in each way the error handler must cover.
type fixture struct {
	e      *echo.Echo
	board  *positionBoard
	logs   *syncBuffer
	mu     sync.Mutex
	stored []grantRequest
	seen   []handlers.Principal
	corr   []string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t testing.TB, mutate ...func(*handlers.Deps)) *fixture {
	t.Helper()
	f := &fixture{board: newPositionBoard(), logs: &syncBuffer{}}
	deps := handlers.Deps{
		Logger:      slog.New(logline.New(f.logs, logline.JSON, slog.LevelDebug)), // as served,
		JWTSecret:   testSecret,
		Projections: f.board,
		QueryWait:   2 * time.Second,
		Routes:      f.routes(),
	}
	for _, m := range mutate {
		m(&deps)
	}
	f.e = handlers.NewServer(deps)
	return f
}

func (f *fixture) routes() []handlers.Route {
	return []handlers.Route{
		{Method: http.MethodPost, Path: "/v1/partners/:mpnId/grants", Summary: "grant", Request: grantRequest{},
			Response: grantAnswer{}, Statuses: []int{http.StatusCreated}, Handler: f.grant},
		{Method: http.MethodGet, Path: "/v1/things/:id", Summary: "read a thing", Projection: "things",
			Response: thingView{}, Handler: func(c echo.Context) error {
				return c.JSON(http.StatusOK, thingView{ID: c.Param("id")})
			}},
		{Method: http.MethodGet, Path: "/v1/partners/:mpnId/things", Summary: "a partner's things", Projection: "things",
			PartnerParam: "mpnId", Response: thingView{}, Handler: func(c echo.Context) error {
				return c.JSON(http.StatusOK, thingView{ID: c.Param("mpnId")})
			}},
		{Method: http.MethodPost, Path: "/v1/admin", Summary: "platform only", Roles: []handlers.SystemRole{handlers.RolePlatform},
			Handler: func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }},
		{Method: http.MethodGet, Path: "/v1/whoami", Summary: "the caller", Handler: f.whoami},
		{Method: http.MethodGet, Path: "/v1/panic", Summary: "panics", Handler: func(echo.Context) error {
			panic("secret internals")
		}},
		{Method: http.MethodPost, Path: "/v1/refuse/:code", Summary: "domain refusal", Handler: func(c echo.Context) error {
			r := &domain.Error{Code: domain.Code(c.Param("code")), Message: "refused by rule"}
			if r.Code == "pool_exhausted" {
				zero := 0
				r.Remaining = &zero
			}
			return errors.Join(errors.New("deciding"), r)
		}},
		{Method: http.MethodPost, Path: "/v1/race", Summary: "lost the optimistic race", Handler: func(echo.Context) error {
			return &eventstore.WrongExpectedRevisionError{Stream: "partner-1", Expected: eventstore.Exact(3), Actual: 4, StreamExists: true}
		}},
		{Method: http.MethodGet, Path: "/v1/broken", Summary: "plain error", Handler: func(echo.Context) error {
			return errors.New("db password is hunter2")
		}},
	}
}

func (f *fixture) grant(c echo.Context) error {
	var req grantRequest
	if err := handlers.Bind(c, &req); err != nil {
		return err
	}
	f.mu.Lock()
	f.stored = append(f.stored, req)
	f.mu.Unlock()
	return c.JSON(http.StatusCreated, grantAnswer{Position: "1"})
}

func (f *fixture) whoami(c echo.Context) error {
	p, _ := handlers.PrincipalFrom(c.Request().Context())
	f.mu.Lock()
	f.seen = append(f.seen, p)
	f.corr = append(f.corr, handlers.CorrelationID(c.Request().Context()))
	f.mu.Unlock()
	return c.JSON(http.StatusOK, map[string]any{"userId": p.UserID, "roles": p.SystemRoles})
}

func (f *fixture) storedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.stored)
}

// do sends one request through the server and returns the recorded response.
func (f *fixture) do(method, target string, body io.Reader, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	return rec
}

func bearer(t testing.TB, sub string, roles ...handlers.SystemRole) string {
	t.Helper()
	tok, err := handlers.IssueToken(testSecret, sub, roles, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// problemOf decodes a problem response and checks the RFC 9457 shape every problem has.
func problemOf(t testing.TB, rec *httptest.ResponseRecorder) handlers.Problem {
	t.Helper()
	if ct := rec.Header().Get(echo.HeaderContentType); ct != handlers.ProblemContentType {
		t.Fatalf("Content-Type %q, want %s; body %s", ct, handlers.ProblemContentType, rec.Body)
	}
	var p handlers.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	if p.Status != rec.Code {
		t.Errorf("problem status %d, HTTP status %d", p.Status, rec.Code)
	}
	if p.Type != "/problems/"+p.Code || p.Title == "" || p.Code == "" {
		t.Errorf("problem lacks type/title/code: %+v", p)
	}
	if p.Extra["correlationId"] != rec.Header().Get(handlers.HeaderCorrelationID) {
		t.Errorf("problem correlationId %v, header %q", p.Extra["correlationId"], rec.Header().Get(handlers.HeaderCorrelationID))
	}
	return p
}

func jsonBody(s string) io.Reader { return strings.NewReader(s) }

func httptestRequest(method, target string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	req.ContentLength = -1 // unknown, as for a chunked upload
	return req
}

func serve(f *fixture, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	return rec
}
