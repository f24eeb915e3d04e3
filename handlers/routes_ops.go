package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"ledger/projections"
)

// ProjectionOps lists and rebuilds read models (projections.Operations implements it).
type ProjectionOps interface {
	Overview(ctx context.Context) ([]projections.ProjectionOverview, error)
	Rebuild(ctx context.Context, name string, opts projections.RebuildOptions) (projections.RebuildReport, string, error)
}

// OpsAPI is what the ops routes need.
type OpsAPI struct {
	Projections ProjectionOps
	DeadLetters DeadLetterOps // nil: no dead-letter routes
}

// ProjectionsOverview is GET /v1/ops/projections.
type ProjectionsOverview struct {
	Projections []projections.ProjectionOverview `json:"projections"`
}

// RebuildAnswer is the outcome of POST /v1/ops/projections/{name}/rebuild: the diff
// report and the file it was written to under the data directory.
type RebuildAnswer struct {
	Report     projections.RebuildReport `json:"report"`
	ReportFile string                    `json:"reportFile,omitempty"`
}

// OpsRoutes are the operators' routes.
func OpsRoutes(a OpsAPI) []Route {
	ops := []SystemRole{RoleOps}
	routes := []Route{
		{Method: http.MethodGet, Path: "/v1/ops/projections", Summary: "Every read model: version, checkpoint, head, lag in events and seconds, state (with rebuild progress) and dead letters (ops, auditor)",
			Roles: []SystemRole{RoleOps, RoleAuditor}, Response: ProjectionsOverview{}, Handler: a.overview},
		{Method: http.MethodPost, Path: "/v1/ops/projections/:name/rebuild", Summary: "Rebuild a read model from the event store into new tables, compare with the live ones and swap them in (?dryRun=true compares only) (ops)",
			Roles: ops, Query: []QueryParam{dryRunParam}, Response: RebuildAnswer{}, LongRunning: true, Handler: a.rebuild},
	}
	if a.DeadLetters != nil {
		routes = append(routes, deadLetterRoutes(a)...)
	}
	return routes
}

var dryRunParam = QueryParam{Name: "dryRun", Type: "boolean", Default: false,
	Description: "Rebuild and compare only: the live read model stays as it is"}

func (a OpsAPI) overview(c echo.Context) error {
	list, err := a.Projections.Overview(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ProjectionsOverview{Projections: list})
}

// rebuild runs to the end even if the client goes away: a rebuild cut short would only
// resume later, and the report would be lost to the caller anyway.
func (a OpsAPI) rebuild(c echo.Context) error {
	dryRun := false
	if raw := c.QueryParam("dryRun"); raw != "" {
		v, err := strconv.ParseBool(raw)
		if err != nil {
			return Problemf(http.StatusBadRequest, CodeBadRequest, "dryRun %q: want true or false", raw).With("field", "dryRun")
		}
		dryRun = v
	}
	ctx := context.WithoutCancel(c.Request().Context())
	rep, file, err := a.Projections.Rebuild(ctx, c.Param("name"), projections.RebuildOptions{DryRun: dryRun})
	switch {
	case errors.Is(err, projections.ErrUnknownProjection):
		return Problemf(http.StatusNotFound, CodeNotFound, "%v", err)
	case errors.Is(err, projections.ErrRebuildRunning):
		return Problemf(http.StatusConflict, CodeConflict, "%v; watch GET /v1/ops/projections", err)
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, RebuildAnswer{Report: rep, ReportFile: file})
}
