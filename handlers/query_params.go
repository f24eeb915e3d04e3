package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"ledger/infra/paging"
)

// QueryParam is a query parameter a route reads. Routes declare theirs (Route.Query),
// and the OpenAPI document lists them from that declaration.
type QueryParam struct {
	Name        string
	Description string
	// Type is the JSON Schema type of the value: "string" (when empty), "integer" or
	// "boolean". Format, Pattern, Enum, Minimum/Maximum (integers, when Maximum > 0)
	// and Default narrow it.
	Type             string
	Format, Pattern  string
	Enum             []string
	Minimum, Maximum int
	Default          any
}

func (q QueryParam) schema() map[string]any {
	s := map[string]any{"type": "string"}
	if q.Type != "" {
		s["type"] = q.Type
	}
	for key, v := range map[string]string{"format": q.Format, "pattern": q.Pattern} {
		if v != "" {
			s[key] = v
		}
	}
	if len(q.Enum) > 0 {
		s["enum"] = q.Enum
	}
	if q.Maximum > 0 {
		s["minimum"], s["maximum"] = q.Minimum, q.Maximum
	}
	if q.Default != nil {
		s["default"] = q.Default
	}
	return s
}

func (q QueryParam) document() map[string]any {
	return map[string]any{"name": q.Name, "in": "query", "description": q.Description, "schema": q.schema()}
}

// checkQueryParams catches declaration mistakes: an unnamed or repeated parameter, an
// unknown type.
func checkQueryParams(params []QueryParam) error {
	seen := map[string]bool{}
	for _, q := range params {
		switch {
		case q.Name == "":
			return fmt.Errorf("a query parameter has no name")
		case seen[q.Name]:
			return fmt.Errorf("query parameter %s declared twice", q.Name)
		case q.Type != "" && q.Type != "string" && q.Type != "integer" && q.Type != "boolean":
			return fmt.Errorf("query parameter %s: unknown type %q", q.Name, q.Type)
		}
		seen[q.Name] = true
	}
	return nil
}

// The query parameters of every paged list (infra/paging): the cursor of the page
// before and the page size. A bad value of either is a 400 naming it (problemOf).
const (
	QueryCursor = "cursor"
	QueryLimit  = "limit"
)

var pageParams = []QueryParam{
	{Name: QueryCursor, Description: "Where the page starts: the nextCursor of the page before (none for the first page). Opaque; a cursor of another list is refused with 400"},
	{Name: QueryLimit, Type: "integer", Minimum: 1, Maximum: paging.MaxLimit, Default: paging.DefaultLimit,
		Description: "The most items the page holds"},
}

// minPositionParam is read by every query route (read_your_writes.go).
var minPositionParam = QueryParam{Name: QueryMinPosition, Pattern: positionSyntax.String(),
	Description: "Wait (bounded) until the read model has applied this global position"}

// pageOf reads the paging parameters of a list route: the limit is checked here, the
// cursor by the list it belongs to.
func pageOf(c echo.Context) (paging.Page, error) {
	limit, err := paging.ParseLimit(c.QueryParam(QueryLimit))
	if err != nil {
		return paging.Page{}, err
	}
	return paging.Page{Cursor: c.QueryParam(QueryCursor), Limit: limit}, nil
}

// pagingProblem is the 400 of a bad limit or cursor, naming the parameter; nil for any
// other error.
func pagingProblem(err error) *Problem {
	field := ""
	switch {
	case errors.Is(err, paging.ErrBadLimit):
		field = QueryLimit
	case errors.Is(err, paging.ErrBadCursor):
		field = QueryCursor
	default:
		return nil
	}
	return Problemf(http.StatusBadRequest, CodeBadRequest, "%s: %v; pass the nextCursor of the page before and a limit of 1 to %d",
		field, err, paging.MaxLimit).With("field", field)
}
