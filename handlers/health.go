package handlers

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Checker is one dependency readiness depends on (an event store, a read database, NATS).
type Checker interface {
	Name() string
	Check(ctx context.Context) error
}

// CheckFunc adapts a function to Checker.
func CheckFunc(name string, check func(ctx context.Context) error) Checker {
	return funcChecker{name: name, check: check}
}

type funcChecker struct {
	name  string
	check func(ctx context.Context) error
}

func (f funcChecker) Name() string                    { return f.name }
func (f funcChecker) Check(ctx context.Context) error { return f.check(ctx) }

// DefaultReadyTimeout bounds one readiness probe, all checks together.
const DefaultReadyTimeout = 2 * time.Second

// CheckResult is one line of the readiness answer.
type CheckResult struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "ok" or "failing"
	Error  string `json:"error,omitempty"`
}

// Readiness is the body of a 200 /readyz answer.
type Readiness struct {
	Status string        `json:"status"`
	Checks []CheckResult `json:"checks"`
}

// Liveness is the body of /healthz.
type Liveness struct {
	Status string `json:"status"`
	// Version is the running build's version (benefits --version).
	Version string `json:"version,omitempty"`
}

// healthz answers as long as the process serves HTTP: liveness must not depend on
// anything outside the process, or a database outage would get every replica restarted.
func healthz(build string) echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, Liveness{Status: "ok", Version: build})
	}
}

// readyz pings every checker at once and answers 503 not_ready naming the failing ones.
func readyz(checkers []Checker, timeout time.Duration) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), timeout)
		defer cancel()
		results := make([]CheckResult, len(checkers))
		var wg sync.WaitGroup
		for i, ch := range checkers {
			wg.Go(func() {
				results[i] = CheckResult{Name: ch.Name(), Status: "ok"}
				if err := ch.Check(ctx); err != nil {
					results[i].Status, results[i].Error = "failing", err.Error()
				}
			})
		}
		wg.Wait()
		for _, r := range results {
			if r.Status != "ok" {
				return Problemf(http.StatusServiceUnavailable, CodeNotReady, "%s is not reachable", r.Name).
					With("checks", results)
			}
		}
		return c.JSON(http.StatusOK, Readiness{Status: "ready", Checks: results})
	}
}
