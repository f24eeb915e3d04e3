package handlers

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/infra/commands"
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

// PositionWaiter is what query routes need from the projection runner. WaitForPartner
// returns once projection has applied the event at pos in the partition holding partner
// mpnID's rows (in every partition when mpnID is empty: a query that may read any
// partner's rows), with the position it has reached; when ctx ends first it returns the
// last position it saw and an error. Waiting for eventstore.Start returns the current
// position at once. (projections.Checkpoints implements it.)
type PositionWaiter interface {
	WaitForPartner(ctx context.Context, projection, mpnID string, pos eventstore.Position) (eventstore.Position, error)
	// PartnerReached is WaitForPartner when it needs no wait: where the partition stands
	// and true when that settles pos already; false, and the query waits.
	PartnerReached(projection, mpnID string, pos eventstore.Position) (eventstore.Position, bool)
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
	var fromQuery string
	if c.Request().URL.RawQuery != "" { // (QueryParam makes a map, on every query otherwise)
		fromQuery = c.QueryParam(QueryMinPosition)
	}
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
// most wait, until projection has reached the requested position (or just reads where
// it stands when none is requested) and records that in X-Projection-Position before
// the handler reads, so the answer reflects at least every event up to it. A route
// reading one partner's rows (partnerParam names its path parameter) waits only for
// that partner's partition of the read model.
func awaitProjection(p PositionWaiter, projection string, partnerOf func(echo.Context) string, wait time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			want, err := minPosition(c)
			if err != nil {
				return err
			}
			ctx := c.Request().Context()
			partner := partnerOf(c)
			if at, ok := p.PartnerReached(projection, partner, want); ok {
				// Most queries need no wait: no deadline to arm and stop (10% of a
				// query's CPU once its answer was kept).
				return reached(c, next, at, want)
			}
			waitCtx, cancel := context.WithTimeout(ctx, wait)
			at, err := p.WaitForPartner(waitCtx, projection, partner, want)
			expired := waitCtx.Err() != nil
			cancel()
			switch {
			case err == nil:
				return reached(c, next, at, want)
			case ctx.Err() != nil:
				return ctx.Err() // the client went away; nothing to answer
			case expired:
				return behind(c, projection, want, at, wait)
			default:
				return fmt.Errorf("waiting for projection %s to reach %s: %w", projection, want, err)
			}
		}
	}
}

// reached lets a query through whose read model stands at at, past want.
func reached(c echo.Context, next echo.HandlerFunc, at, want eventstore.Position) error {
	SetProjectionPosition(c, at)
	if !want.IsZero() { // (a copy of the request per query otherwise)
		// The access check's state must hold the writes the client names too.
		c.SetRequest(c.Request().WithContext(commands.ReadingAfter(c.Request().Context(), want)))
	}
	return next(c)
}

func behind(c echo.Context, projection string, want, at eventstore.Position, wait time.Duration) error {
	SetProjectionPosition(c, at)
	p := Problemf(http.StatusServiceUnavailable, CodeProjectionBehind,
		"the %s read model has not reached position %s within %s; retry shortly", projection, want, wait).
		With("projection", projection).With("minPosition", want.String()).With("projectionPosition", at.String())
	p.RetryAfter = time.Second
	return p
}
