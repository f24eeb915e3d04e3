package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/projections"
)

// ProjectionOps lists read models (projections.Operations implements it).
type ProjectionOps interface {
	Overview(ctx context.Context) ([]projections.ProjectionOverview, error)
}

// RebuildJobs runs rebuilds in the background and tells their status
// (projections.RebuildJobs implements it).
type RebuildJobs interface {
	Start(name string, opts projections.RebuildOptions) (projections.RebuildJobStatus, error)
	// Watch is a job's status now and a channel closed at its next change.
	Watch(name, id string) (projections.RebuildJobStatus, <-chan struct{}, bool)
}

// OpsAPI is what the ops routes need.
type OpsAPI struct {
	Projections ProjectionOps
	Rebuilds    RebuildJobs
	DeadLetters DeadLetterOps // nil: no dead-letter routes
}

// ProjectionsOverview is GET /v1/ops/projections.
type ProjectionsOverview struct {
	Projections []projections.ProjectionOverview `json:"projections"`
}

// RebuildStatus is a rebuild job: POST .../rebuild answers it (202, with its Location),
// GET .../rebuilds/{id} answers it as it stands, and .../events streams it.
type RebuildStatus = projections.RebuildJobStatus

// OpsRoutes are the operators' routes.
func OpsRoutes(a OpsAPI) []Route {
	ops := []SystemRole{RoleOps}
	routes := []Route{
		{Method: http.MethodGet, Path: "/v1/ops/projections", Summary: "Every read model: version, checkpoint, head, lag in events and seconds, state (with rebuild progress) and dead letters (ops, auditor)",
			Roles: []SystemRole{RoleOps, RoleAuditor}, Response: ProjectionsOverview{}, Handler: a.overview},
		{Method: http.MethodPost, Path: "/v1/ops/projections/:name/rebuild", Summary: "Start rebuilding a read model from the event store into new tables, to compare with the live ones and swap them in (?dryRun=true compares only); answers 202 at once with the job's status, whose Location to follow; 409 while one runs (ops)",
			Roles: ops, Query: []QueryParam{dryRunParam}, Response: RebuildStatus{}, Statuses: []int{http.StatusAccepted},
			Location: true, Handler: a.startRebuild},
		{Method: http.MethodGet, Path: "/v1/ops/projections/:name/rebuilds/:id", Summary: "A rebuild job: state, progress, events/s, ETA; once compared the diff summary and report, and whether the new generation was swapped in (ops)",
			Roles: ops, Response: RebuildStatus{}, Handler: a.rebuildStatus},
		{Method: http.MethodGet, Path: "/v1/ops/projections/:name/rebuilds/:id/events", Summary: "A rebuild job as server-sent events: a status event at once and at each change, then a done event with the final status (ops)",
			Roles: ops, ResponseType: "text/event-stream", LongRunning: true, Handler: a.rebuildEvents},
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

// startRebuild answers once the rebuild has claimed the read model (so a conflict with
// another process is a 409 here, not a failed job later); the work goes on in the
// background, whatever the client does.
func (a OpsAPI) startRebuild(c echo.Context) error {
	dryRun := false
	if raw := c.QueryParam("dryRun"); raw != "" {
		v, err := strconv.ParseBool(raw)
		if err != nil {
			return Problemf(http.StatusBadRequest, CodeBadRequest, "dryRun %q: want true or false", raw).With("field", "dryRun")
		}
		dryRun = v
	}
	name := c.Param("name")
	st, err := a.Rebuilds.Start(name, projections.RebuildOptions{DryRun: dryRun})
	if err != nil {
		return err // an unknown name is 404, a rebuild already running 409 (problemOf)
	}
	c.Response().Header().Set(echo.HeaderLocation, rebuildPath(name, st.ID))
	return c.JSON(http.StatusAccepted, st)
}

func rebuildPath(name, id string) string {
	return "/v1/ops/projections/" + name + "/rebuilds/" + id
}

func (a OpsAPI) rebuildStatus(c echo.Context) error {
	st, _, ok := a.Rebuilds.Watch(c.Param("name"), c.Param("id"))
	if !ok {
		return noSuchRebuild(c)
	}
	return c.JSON(http.StatusOK, st)
}

func noSuchRebuild(c echo.Context) error {
	return Problemf(http.StatusNotFound, CodeNotFound, "no rebuild %s of %s in this process (jobs are kept in the process that ran them, until it restarts)",
		c.Param("id"), c.Param("name"))
}

// sseWriteTimeout bounds writing one event: a client that stops reading is cut off.
const sseWriteTimeout = 30 * time.Second

// rebuildEvents streams the job: "status" events as it changes (each the whole
// status, so a client that missed some loses nothing), then one "done" event.
func (a OpsAPI) rebuildEvents(c echo.Context) error {
	st, changed, ok := a.Rebuilds.Watch(c.Param("name"), c.Param("id"))
	if !ok {
		return noSuchRebuild(c)
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // no proxy buffering of the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ctx := c.Request().Context()
	for {
		event := "status"
		if st.Done() {
			event = "done"
		}
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if err := writeEvent(w, event, st); err != nil {
			return nil // the client went away
		}
		if err := rc.Flush(); err != nil || st.Done() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		if st, changed, ok = a.Rebuilds.Watch(c.Param("name"), c.Param("id")); !ok {
			return nil // forgotten meanwhile: the stream ends
		}
	}
}

func writeEvent(w http.ResponseWriter, event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
	return err
}
