package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestGlobalMiddlewaresAreComposedOnceAndRunOnEveryRequest: the chain is built at start,
// not per request, and still runs around every request, matched (with its path
// parameters), unmatched (404) and of a wrong method (405), in Use's order.
func TestGlobalMiddlewaresAreComposedOnceAndRunOnEveryRequest(t *testing.T) {
	built := 0
	var order []string
	named := func(name string) echo.MiddlewareFunc {
		return func(next echo.HandlerFunc) echo.HandlerFunc {
			built++
			return func(c echo.Context) error {
				order = append(order, name)
				return next(c)
			}
		}
	}
	e := echo.New()
	e.Use(composedOnce(named("outer"), named("inner")))
	e.GET("/things/:id", func(c echo.Context) error { return c.String(http.StatusOK, "thing "+c.Param("id")) })

	cases := []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, "/things/1", http.StatusOK, "thing 1"},
		{http.MethodGet, "/things/2", http.StatusOK, "thing 2"},
		{http.MethodGet, "/nothing", http.StatusNotFound, ""},
		{http.MethodPost, "/things/1", http.StatusMethodNotAllowed, ""},
	}
	for round := 0; round < 3; round++ {
		for _, tc := range cases {
			order = order[:0]
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status || tc.body != "" && rec.Body.String() != tc.body {
				t.Fatalf("%s %s: %d %q, want %d %q", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.body)
			}
			if len(order) != 2 || order[0] != "outer" || order[1] != "inner" {
				t.Fatalf("%s %s ran the global middlewares %v, want [outer inner]", tc.method, tc.path, order)
			}
		}
	}
	if built != 2 {
		t.Fatalf("two global middlewares were built %d times over 12 requests, want once each", built)
	}
}
