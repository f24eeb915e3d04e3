package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/transparency"
)

// TransparencyLog is the signed Merkle tree over the global log (infra/transparency).
type TransparencyLog interface {
	Latest(ctx context.Context) (transparency.Checkpoint, error)
	Publish(ctx context.Context) (transparency.Checkpoint, error)
	ProveInclusion(ctx context.Context, p eventstore.Position, size int64) (transparency.InclusionProof, error)
	ProveConsistency(ctx context.Context, from, to int64) (transparency.ConsistencyProof, error)
	// VerifierKey is the public key checkpoints verify with, in note form.
	VerifierKey() string
}

// TransparencyAPI serves the checkpoints and proofs.
type TransparencyAPI struct{ Log TransparencyLog }

// CheckpointAnswer is a signed checkpoint and the key it verifies with. Save Note to a
// file for `benefits audit verify --checkpoint FILE`.
type CheckpointAnswer struct {
	transparency.Checkpoint
	VerifierKey string `json:"verifierKey"`
}

// VerifierKeyAnswer is the log's public key in note verifier-key form.
type VerifierKeyAnswer struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifierKey"`
}

var (
	positionParam = QueryParam{Name: "position", Pattern: positionSyntax.String(),
		Description: "Global position of the event to prove (as history and export show it)"}
	sizeParam = QueryParam{Name: "size", Type: "integer", Minimum: 1,
		Description: "Tree size (a checkpoint's size) to prove against; the latest checkpoint's when absent"}
	fromParam = QueryParam{Name: "from", Type: "integer", Minimum: 1,
		Description: "The older tree size (an earlier checkpoint's)"}
	toParam = QueryParam{Name: "to", Type: "integer", Minimum: 1,
		Description: "The newer tree size; the latest checkpoint's when absent"}
)

// transparencyRoles are domain.TransparencyLogReaders as route roles.
func transparencyRoles() []SystemRole {
	roles := make([]SystemRole, len(domain.TransparencyLogReaders))
	for i, r := range domain.TransparencyLogReaders {
		roles[i] = SystemRole(r)
	}
	return roles
}

// TransparencyRoutes are the transparency log's routes (auditor, platform).
func TransparencyRoutes(a TransparencyAPI) []Route {
	roles, get := transparencyRoles(), http.MethodGet
	return []Route{
		{Method: get, Path: "/v1/audit/checkpoint", Summary: "The latest signed checkpoint of the global log (C2SP tlog-checkpoint note, Ed25519) and its verifier key (auditor, platform)",
			Roles: roles, Response: CheckpointAnswer{}, Handler: a.latest},
		{Method: http.MethodPost, Path: "/v1/audit/checkpoint", Summary: "Bring the Merkle tree up to the log and publish a signed checkpoint of it now (auditor, platform)",
			Roles: roles, Response: CheckpointAnswer{}, LongRunning: true, Handler: a.publish},
		{Method: get, Path: "/v1/audit/checkpoint/key", Summary: "The log's public key (note verifier key) that checkpoints verify with (auditor, platform)",
			Roles: roles, Response: VerifierKeyAnswer{}, Handler: a.key},
		{Method: get, Path: "/v1/audit/proof/inclusion", Summary: "RFC 6962 inclusion proof of the event at ?position= in the tree of ?size= events (auditor, platform)",
			Roles: roles, Query: []QueryParam{positionParam, sizeParam}, Response: transparency.InclusionProof{}, Handler: a.inclusion},
		{Method: get, Path: "/v1/audit/proof/consistency", Summary: "RFC 6962 consistency proof that the tree of ?to= events extends the tree of ?from= (auditor, platform)",
			Roles: roles, Query: []QueryParam{fromParam, toParam}, Response: transparency.ConsistencyProof{}, Handler: a.consistency},
	}
}

func (a TransparencyAPI) answer(c echo.Context, cp transparency.Checkpoint, err error) error {
	if errors.Is(err, transparency.ErrNoCheckpoint) {
		return Problemf(http.StatusNotFound, CodeNotFound, "%v", err)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, CheckpointAnswer{Checkpoint: cp, VerifierKey: a.Log.VerifierKey()})
}

func (a TransparencyAPI) latest(c echo.Context) error {
	cp, err := a.Log.Latest(c.Request().Context())
	return a.answer(c, cp, err)
}

func (a TransparencyAPI) publish(c echo.Context) error {
	cp, err := a.Log.Publish(c.Request().Context())
	return a.answer(c, cp, err)
}

func (a TransparencyAPI) key(c echo.Context) error {
	vkey := a.Log.VerifierKey()
	origin, _, _ := strings.Cut(vkey, "+") // name+hash+key: the name is the origin
	return c.JSON(http.StatusOK, VerifierKeyAnswer{Origin: origin, VerifierKey: vkey})
}

// sizeOr reads a tree size parameter; absent, it is the latest checkpoint's size.
func (a TransparencyAPI) sizeOr(c echo.Context, name string) (int64, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		cp, err := a.Log.Latest(c.Request().Context())
		if errors.Is(err, transparency.ErrNoCheckpoint) {
			return 0, Problemf(http.StatusNotFound, CodeNotFound, "%v: give ?%s=", err, name).With("field", name)
		}
		return cp.Size, err
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 1 {
		return 0, queryProblem(name, "want a tree size, a whole number from 1")
	}
	return n, nil
}

// notInTree answers a position or size the tree has not reached with 404 naming field.
func notInTree(err error, field string) error {
	if errors.Is(err, transparency.ErrNotInTree) {
		return Problemf(http.StatusNotFound, CodeNotFound, "%v", err).With("field", field)
	}
	return err
}

func (a TransparencyAPI) inclusion(c echo.Context) error {
	raw := c.QueryParam("position")
	if raw == "" {
		return queryProblem("position", "required: the global position of the event to prove")
	}
	pos, err := eventstore.ParsePosition(raw)
	if err != nil {
		return queryProblem("position", "want a position such as 12 (or 12/10 on EventStoreDB)")
	}
	size, err := a.sizeOr(c, "size")
	if err != nil {
		return err
	}
	p, err := a.Log.ProveInclusion(c.Request().Context(), pos, size)
	if err != nil {
		field := "position"
		if isSizeError(err) {
			field = "size"
		}
		return notInTree(err, field)
	}
	return c.JSON(http.StatusOK, p)
}

func isSizeError(err error) bool {
	var se *transparency.SizeError
	return errors.As(err, &se)
}

func (a TransparencyAPI) consistency(c echo.Context) error {
	if c.QueryParam("from") == "" {
		return queryProblem("from", "required: the older tree size")
	}
	from, err := a.sizeOr(c, "from")
	if err != nil {
		return err
	}
	to, err := a.sizeOr(c, "to")
	if err != nil {
		return err
	}
	p, err := a.Log.ProveConsistency(c.Request().Context(), from, to)
	if err != nil {
		field := "to"
		if from > to {
			field = "from"
		}
		return notInTree(err, field)
	}
	return c.JSON(http.StatusOK, p)
}
