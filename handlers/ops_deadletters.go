package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
	"ledger/projections"
)

// DeadLetterOps lists, shows, retries and discards dead letters
// (projections.DeadLetterOps implements it).
type DeadLetterOps interface {
	List(ctx context.Context, name, status string, page paging.Page) (projections.DeadLetterPage, error)
	Letter(ctx context.Context, name string, pos eventstore.Position) (projections.DeadLetterDetail, error)
	Retry(ctx context.Context, name string, pos eventstore.Position, by string) (projections.DeadLetterEntry, error)
	Discard(ctx context.Context, name string, pos eventstore.Position, by, reason string) (projections.DeadLetterEntry, error)
}

// DiscardRequest is the body of POST .../dead-letters/{position}/discard. The bound is
// projections.MaxResolutionReason (a test keeps the two equal); blank is refused there.
type DiscardRequest struct {
	Reason string `json:"reason" binding:"required" maxLength:"1000" multiline:"true"`
}

// systemRoles turns a domain list of system roles into route roles.
func systemRoles(names []string) []SystemRole {
	roles := make([]SystemRole, len(names))
	for i, r := range names {
		roles[i] = SystemRole(r)
	}
	return roles
}

var deadLetterStatusParam = QueryParam{Name: "status", Enum: []string{projections.DeadLettersOpen, projections.DeadLettersResolved},
	Default: projections.DeadLettersOpen, Description: "open: the letters waiting for ops (live generation); resolved: the retried and discarded ones, with who, when and why"}

// deadLetterRoutes are the dead-letter routes of OpsRoutes.
func deadLetterRoutes(a OpsAPI) []Route {
	read, resolve := systemRoles(domain.DeadLetterReaders), systemRoles(domain.DeadLetterResolvers)
	const base = "/v1/ops/projections/:name/dead-letters"
	return []Route{
		{Method: http.MethodGet, Path: base, Summary: "The dead letters of a read model, oldest first, paged: open ones by default, ?status=resolved for the history (ops, auditor)",
			Roles: read, Query: append([]QueryParam{deadLetterStatusParam}, pageParams...), Response: projections.DeadLetterPage{}, Handler: a.deadLetters},
		{Method: http.MethodGet, Path: base + "/:position", Summary: "One dead letter with the event's data and the projection's error (ops, auditor)",
			Roles: read, Response: projections.DeadLetterDetail{}, Handler: a.deadLetter},
		{Method: http.MethodPost, Path: base + "/:position/retry", Summary: "Apply the event again through the read model; the letter is resolved only if it applies (422 retry_refused otherwise) (ops)",
			Roles: resolve, Response: projections.DeadLetterEntry{}, Handler: a.retryDeadLetter},
		{Method: http.MethodPost, Path: base + "/:position/discard", Summary: "Resolve the letter without applying the event, recording who and why (ops)",
			Roles: resolve, Request: DiscardRequest{}, Response: projections.DeadLetterEntry{}, Handler: a.discardDeadLetter},
	}
}

func (a OpsAPI) deadLetters(c echo.Context) error {
	page, err := pageOf(c)
	if err != nil {
		return err
	}
	list, err := a.DeadLetters.List(c.Request().Context(), c.Param("name"), c.QueryParam("status"), page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (a OpsAPI) deadLetter(c echo.Context) error {
	pos, err := letterPosition(c)
	if err != nil {
		return err
	}
	letter, err := a.DeadLetters.Letter(c.Request().Context(), c.Param("name"), pos)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, letter)
}

func (a OpsAPI) retryDeadLetter(c echo.Context) error {
	pos, err := letterPosition(c)
	if err != nil {
		return err
	}
	done, err := a.DeadLetters.Retry(c.Request().Context(), c.Param("name"), pos, caller(c).UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, done)
}

func (a OpsAPI) discardDeadLetter(c echo.Context) error {
	pos, err := letterPosition(c)
	if err != nil {
		return err
	}
	var req DiscardRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	done, err := a.DeadLetters.Discard(c.Request().Context(), c.Param("name"), pos, caller(c).UserID, req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, done)
}

// letterPosition reads the {position} path parameter: a global position, 42 or 42/40
// (the slash escaped as %2F in the path).
func letterPosition(c echo.Context) (eventstore.Position, error) {
	raw := c.Param("position")
	if !positionSyntax.MatchString(raw) {
		return eventstore.Position{}, Problemf(http.StatusBadRequest, CodeBadRequest,
			"position %q: want a global position such as 42 or 42/40", raw).With("field", "position")
	}
	pos, err := eventstore.ParsePosition(raw)
	if err != nil {
		return eventstore.Position{}, Problemf(http.StatusBadRequest, CodeBadRequest, "position: %v", err).With("field", "position")
	}
	return pos, nil
}
