package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/infra/eventstore"
)

const (
	// QueryMinPosition and HeaderMinPosition carry the position a query must see.
	QueryMinPosition  = "minPosition"
	HeaderMinPosition = "X-Min-Position"
	// HeaderProjectionPosition tells how far the projection behind a query had got: the
	// answer reflects at least every event up to it.
	HeaderProjectionPosition = "X-Projection-Position"
)

// DefaultQueryWait bounds how long a query waits for its projection to reach minPosition.
const DefaultQueryWait = 2 * time.Second

// PositionWaiter returns once projection has applied the event at pos, or ctx's error
// when ctx ends first. The projection runner implements it.
type PositionWaiter interface {
	WaitFor(ctx context.Context, projection string, pos eventstore.Position) error
}

// PositionReader tells the position of the last event a projection has applied.
type PositionReader interface {
	Position(ctx context.Context, projection string) (eventstore.Position, error)
}

// Projections is what query routes need from the projection runner.
type Projections interface {
	PositionWaiter
	PositionReader
}

// SetProjectionPosition lets a query handler report the position it read together with
// its rows (more precise than the one the middleware set before the handler ran).
func SetProjectionPosition(c echo.Context, pos eventstore.Position) {
	c.Response().Header().Set(HeaderProjectionPosition, pos.String())
}

var positionSyntax = regexp.MustCompile(`^[0-9]{1,20}(/[0-9]{1,20})?$`)

// minPosition reads the wanted position from the query parameter or the header; zero
// when neither is given.
func minPosition(c echo.Context) (eventstore.Position, error) {
	fromQuery := c.QueryParam(QueryMinPosition)
	fromHeader := c.Request().Header.Get(HeaderMinPosition)
	raw, source := fromQuery, QueryMinPosition
	switch {
	case fromQuery != "" && fromHeader != "" && fromQuery != fromHeader:
		return eventstore.Position{}, Problemf(http.StatusBadRequest, CodeBadRequest,
			"%s=%q and %s: %q disagree; send one", QueryMinPosition, fromQuery, HeaderMinPosition, fromHeader)
	case fromQuery == "" && fromHeader == "":
		return eventstore.Start, nil
	case fromQuery == "":
		raw, source = fromHeader, HeaderMinPosition
	}
	if !positionSyntax.MatchString(raw) {
		return eventstore.Position{}, Problemf(http.StatusBadRequest, CodeBadRequest,
			"%s %q: want a global position such as 42 or 42/40", source, raw).With("field", source)
	}
	pos, err := eventstore.ParsePosition(raw)
	if err != nil {
		return eventstore.Position{}, Problemf(http.StatusBadRequest, CodeBadRequest, "%s: %v", source, err).With("field", source)
	}
	return pos, nil
}

// awaitProjection is the read-your-writes middleware of a query route: it waits, at
// most wait, until projection has reached the requested position, then records the
// projection's position in X-Projection-Position before the handler reads.
func awaitProjection(p Projections, projection string, wait time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			want, err := minPosition(c)
			if err != nil {
				return err
			}
			ctx := c.Request().Context()
			if !want.IsZero() {
				if err := waitFor(ctx, p, projection, want, wait); err != nil {
					if errors.Is(err, errProjectionBehind) {
						return behind(c, p, projection, want, wait)
					}
					return err
				}
			}
			at, err := p.Position(ctx, projection)
			if err != nil {
				return fmt.Errorf("projection %s position: %w", projection, err)
			}
			SetProjectionPosition(c, at)
			return next(c)
		}
	}
}

var errProjectionBehind = errors.New("projection behind")

func waitFor(ctx context.Context, p PositionWaiter, projection string, want eventstore.Position, wait time.Duration) error {
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err := p.WaitFor(waitCtx, projection, want)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // the client went away; nothing to answer
	case waitCtx.Err() != nil:
		return errProjectionBehind
	default:
		return fmt.Errorf("waiting for projection %s to reach %s: %w", projection, want, err)
	}
}

func behind(c echo.Context, p PositionReader, projection string, want eventstore.Position, wait time.Duration) error {
	prob := Problemf(http.StatusServiceUnavailable, CodeProjectionBehind,
		"the %s read model has not reached position %s within %s; retry shortly", projection, want, wait).
		With("projection", projection).With("minPosition", want.String())
	if at, err := p.Position(c.Request().Context(), projection); err == nil {
		SetProjectionPosition(c, at)
		prob = prob.With("projectionPosition", at.String())
	}
	c.Response().Header().Set(echo.HeaderRetryAfter, "1")
	return prob
}
