package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/infra/audit"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
	"ledger/projections"
)

// AuditAPI is what the auditors' routes read: the event store itself, never a read
// model, so an answer cannot be stale or rebuilt wrong.
type AuditAPI struct {
	Log audit.Log
	// Partners gives a partner's current state, folded from the event store (the
	// command executor keeps it): who may read a partner's history is decided on it,
	// at a cost that does not grow with the partner's history.
	Partners PartnerLoader
	// Now is the default instant of an as-of answer (time.Now when nil).
	Now func() time.Time
}

// PartnerLoader is the part of the command executor that loads a partner's state.
type PartnerLoader interface {
	LoadPartner(ctx context.Context, mpnID string) (domain.Partner, eventstore.Position, error)
}

// PartnerStateAsOf is GET /v1/partners/{mpnId}/state: the partner's state at asOf,
// folded from its events up to that instant, in the shapes of the live read models.
type PartnerStateAsOf struct {
	MPNID string    `json:"mpnId"`
	AsOf  time.Time `json:"asOf"`
	// Position and Events describe the last event folded and how many were.
	Position           string                         `json:"position"`
	Events             int                            `json:"events"`
	Benefits           projections.Benefits           `json:"benefits"`
	RemainingIncidents projections.RemainingIncidents `json:"remainingIncidents"`
	LinkedAccounts     []ContractAccounts             `json:"linkedAccounts"`
	// Incidents is one page of the incidents, paged by ?cursor= and ?limit= like
	// GET /v1/partners/{mpnId}/incidents; the rest of the state is small and whole.
	Incidents projections.Incidents `json:"incidents"`
}

// ContractAccounts is the linked accounts of one contract (R12), as of the instant.
type ContractAccounts struct {
	ContractID string                      `json:"contractId"`
	Accounts   []projections.LinkedAccount `json:"accounts"`
}

var (
	streamParam = QueryParam{Name: "stream", Description: "Verify only this stream (e.g. partner-1234567); every stream when absent"}
	asOfParam   = QueryParam{Name: "asOf", Format: "date-time",
		Description: "The instant (RFC 3339) the state is folded to: events that occurred at or before it; now when absent"}
)

// AuditRoutes are the auditors' routes: chain verification, history and as-of state.
func AuditRoutes(a AuditAPI) []Route {
	get := http.MethodGet
	return []Route{
		{Method: get, Path: "/v1/audit/verify", Summary: "Walk the hash chain of every stream (or ?stream=) and report the first broken link (auditor, ops)",
			Roles: []SystemRole{RoleAuditor, RoleOps}, Query: []QueryParam{streamParam}, Response: audit.Verification{}, LongRunning: true, Handler: a.verify},
		{Method: get, Path: "/v1/partners/:mpnId/history", Summary: "A partner's events in order with their metadata and hashes, paged by ?cursor= and ?limit= (auditor, or the partner's MPN-linked users)",
			PartnerParam: "mpnId", Query: pageParams, Response: audit.HistoryPage{}, Handler: a.history},
		{Method: get, Path: "/v1/partners/:mpnId/state", Summary: "A partner's remaining incidents, linked accounts, memberships and a page of its incidents (?cursor=, ?limit=) as of ?asOf=RFC3339, folded from its events (auditor, or the partner's MPN-linked users)",
			PartnerParam: "mpnId", Query: append([]QueryParam{asOfParam}, pageParams...), Response: PartnerStateAsOf{}, Handler: a.state},
	}
}

func (a AuditAPI) now() time.Time {
	if a.Now == nil {
		return time.Now().UTC()
	}
	return a.Now().UTC()
}

func (a AuditAPI) verify(c echo.Context) error {
	v, err := audit.Verify(c.Request().Context(), a.Log, c.QueryParam("stream"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (a AuditAPI) history(c echo.Context) error {
	mpn := c.Param("mpnId")
	if err := a.authorisePartnerAudit(c, mpn); err != nil {
		return err
	}
	page, err := pageOf(c)
	if err != nil {
		return err
	}
	history, err := audit.History(c.Request().Context(), a.Log, mpn, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, history)
}

func (a AuditAPI) state(c echo.Context) error {
	mpn := c.Param("mpnId")
	at := a.now()
	if raw := c.QueryParam("asOf"); raw != "" {
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return Problemf(http.StatusBadRequest, CodeBadRequest, "asOf %q: want an RFC 3339 instant such as 2026-01-15T09:00:00Z", raw).With("field", "asOf")
		}
		at = t.UTC()
	}
	page, err := pageOf(c)
	if err != nil {
		return err
	}
	if err := a.authorisePartnerAudit(c, mpn); err != nil {
		return err
	}
	// Of the incidents, only the page's are kept, so the answer's memory does not grow
	// with the partner's history. A bad cursor keeps none: the rendering below reports
	// it, after the partner's enrolment is checked, as it always has.
	window, _ := projections.IncidentsPageWindow(mpn, page)
	st, err := audit.PartnerViewAsOf(c.Request().Context(), a.Log, mpn, at, window)
	if err != nil {
		return err
	}
	if !st.Partner.Enrolled() {
		return Problemf(http.StatusNotFound, CodeNotFound, "partner %s was not enrolled at %s", mpn, at.Format(time.RFC3339Nano))
	}
	answer, err := renderAsOf(st, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answer)
}

// renderAsOf answers through the read models' own render functions, so as-of and live
// answers cannot differ in shape. It shows the IDs: only readers who may see them get
// here (authorisePartnerAudit).
func renderAsOf(st audit.PartnerState, page paging.Page) (PartnerStateAsOf, error) {
	p, at := st.Partner, st.AsOf
	incidents, err := projections.RenderIncidentsPage(p, "", page)
	if err != nil {
		return PartnerStateAsOf{}, err
	}
	out := PartnerStateAsOf{MPNID: p.MPNID, AsOf: at, Position: st.Position.String(), Events: st.Events,
		Benefits: projections.RenderBenefits(p, at, true), RemainingIncidents: projections.RenderRemainingIncidents(p, at),
		LinkedAccounts: []ContractAccounts{}, Incidents: incidents}
	for _, c := range p.Contracts(at) {
		out.LinkedAccounts = append(out.LinkedAccounts, ContractAccounts{ContractID: c.ContractID,
			Accounts: projections.RenderLinkedAccounts(p, c.ContractID).Accounts})
	}
	return out, nil
}

// authorisePartnerAudit admits the readers who may see the partner's Access ID and
// Contract ID (domain.CanSeeContractIDs): history and past state carry both, so an
// account not linked to MPN, or linked only to CSP, is refused (R2, R4). The rule is
// asked on the partner's current users, as every read route asks it.
func (a AuditAPI) authorisePartnerAudit(c echo.Context, mpnID string) error {
	if domain.ValidateMPNID(mpnID) != nil {
		return Problemf(http.StatusNotFound, CodeNotFound, "no partner %q: an MPN ID is 5 to 10 digits", mpnID)
	}
	me := by(c)
	if me.ReadsEverything() {
		return nil // the rule admits them whatever the partner's users: skip the load
	}
	current, _, err := a.Partners.LoadPartner(c.Request().Context(), mpnID)
	if err != nil {
		return err
	}
	if err := domain.CanSeeContractIDs(me, current.PartnerUsers()); err != nil {
		return Problemf(http.StatusForbidden, CodeForbidden,
			"the history of partner %s is open to auditors and to the partner's MPN-linked accounts (R2, R4)", mpnID)
	}
	return nil
}
