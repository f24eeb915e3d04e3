package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/domain"
)

// RuleBookReader reads the published rules versions (commands.Executor implements it).
type RuleBookReader interface {
	RuleBook(ctx context.Context) (domain.RuleBook, error)
}

// RulesAPI is what GET /v1/rules needs. POST /v1/rules, which publishes a version, is a
// command and lives with the others in CommandRoutes.
type RulesAPI struct {
	Rules RuleBookReader
	Now   func() time.Time // time.Now when nil
}

// RulesVersions is GET /v1/rules: every version, oldest first, and which is in force.
type RulesVersions struct {
	InForce  int            `json:"inForce"`
	Latest   int            `json:"latest"`
	Versions []RulesVersion `json:"versions"`
}

// RulesVersion is one version with its status at the time of asking.
type RulesVersion struct {
	Version       int          `json:"version"`
	EffectiveFrom time.Time    `json:"effectiveFrom"`
	Status        string       `json:"status"` // in-force | scheduled | superseded
	Rules         domain.Rules `json:"rules"`
}

// Rules version statuses.
const (
	RulesInForce    = "in-force"
	RulesScheduled  = "scheduled"
	RulesSuperseded = "superseded"
)

// RulesRoutes lists the rules versions (R10) to any authenticated caller.
func RulesRoutes(a RulesAPI) []Route {
	return []Route{
		{Method: http.MethodGet, Path: "/v1/rules", Summary: "Every rules version (R10): entitlements, cloud competencies, products, effective-from and status",
			Response: RulesVersions{}, Handler: a.list},
	}
}

func (a RulesAPI) list(c echo.Context) error {
	book, err := a.Rules.RuleBook(c.Request().Context())
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if a.Now != nil {
		now = a.Now().UTC()
	}
	inForce := book.InForce(now)
	out := RulesVersions{InForce: inForce.Version, Latest: book.Latest().Version}
	for _, r := range append([]domain.Rules{domain.DefaultRules()}, book.Versions...) {
		status := RulesSuperseded
		switch {
		case r.Version == inForce.Version:
			status = RulesInForce
		case r.Version > inForce.Version:
			status = RulesScheduled
		}
		out.Versions = append(out.Versions, RulesVersion{Version: r.Version, EffectiveFrom: r.EffectiveFrom, Status: status, Rules: r})
	}
	return c.JSON(http.StatusOK, out)
}
