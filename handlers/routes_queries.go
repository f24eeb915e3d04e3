package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/projections"
)

// QueryRoutes are the routes that read the read models. Each waits for its projection
// to reach minPosition and answers X-Projection-Position (read_your_writes.go). Who may
// read is decided on the partner's state in the event store, never on a read model
// that may lag: a partner user reads only the partners it is registered with; auditors
// and the platform read everything.
func QueryRoutes(a API) []Route {
	get := http.MethodGet
	return []Route{
		{Method: get, Path: "/v1/partners/:mpnId/benefits", Summary: "Memberships, level, activation; the IDs only for MPN-linked users and system roles (R3, R4, R6)",
			Projection: projections.BenefitsOverviewName, Response: projections.Benefits{}, Handler: a.benefits},
		{Method: get, Path: "/v1/partners/:mpnId/remaining-incidents", Summary: "Remaining incidents per contract and pool (R13, R14, R22)",
			Projection: projections.RemainingIncidentsName, Response: projections.RemainingIncidents{}, Handler: a.remainingIncidents},
		{Method: get, Path: "/v1/contracts/:contractId/linked-accounts", Summary: "Accounts linked to a contract (R12)",
			Projection: projections.LinkedAccountsName, Response: projections.LinkedAccounts{}, Handler: a.linkedAccounts},
		{Method: get, Path: "/v1/accounts/:userId/support-plans", Summary: "Plans an account can use, and the unavailable ones with the reason (R14)",
			Projection: projections.SupportPlansName, Response: projections.SupportPlans{}, Handler: a.supportPlans},
		{Method: get, Path: "/v1/partners/:mpnId/incidents", Summary: "A partner's incidents; ?status=open|closed filters",
			Projection: projections.IncidentsName, Response: projections.Incidents{}, Handler: a.incidents},
	}
}

func (a API) benefits(c echo.Context) error {
	mpn := c.Param("mpnId")
	state, err := a.partnerForReading(c, mpn)
	if err != nil {
		return err
	}
	p := caller(c)
	u := state.UserByID[p.UserID]
	reveal := readsEverything(p) || u.MPNLinked && !u.CSPOnly // R4
	answer, err := a.ReadModels.Benefits(c.Request().Context(), mpn, a.now(), reveal)
	if err != nil {
		return readModelError(err)
	}
	return c.JSON(http.StatusOK, answer)
}

func (a API) remainingIncidents(c echo.Context) error {
	mpn := c.Param("mpnId")
	if _, err := a.partnerForReading(c, mpn); err != nil {
		return err
	}
	answer, err := a.ReadModels.RemainingIncidents(c.Request().Context(), mpn, a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answer)
}

func (a API) linkedAccounts(c echo.Context) error {
	contract := c.Param("contractId")
	mpn, ok := domain.PartnerOfContract(contract)
	if !ok {
		return notFound("no contract %q", contract)
	}
	state, err := a.partnerForReading(c, mpn)
	if err != nil {
		return err
	}
	if _, ok := state.ContractByID[contract]; !ok {
		return notFound("partner %s has no contract %s", mpn, contract)
	}
	answer, err := a.ReadModels.LinkedAccounts(c.Request().Context(), contract)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answer)
}

// supportPlans: an account reads its own plans; auditors and the platform read any; an
// MPN-linked admin reads those of its partner's accounts.
func (a API) supportPlans(c echo.Context) error {
	ctx := c.Request().Context()
	user := c.Param("userId")
	p := caller(c)
	if user != p.UserID && !readsEverything(p) {
		if err := a.adminOfPartnerOf(c, user); err != nil {
			return err
		}
	}
	answer, err := a.ReadModels.SupportPlans(ctx, user, a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answer)
}

// adminOfPartnerOf admits the caller if it is an MPN-linked global or partner admin of a
// partner the account belongs to.
func (a API) adminOfPartnerOf(c echo.Context, user string) error {
	ctx := c.Request().Context()
	partners, err := a.ReadModels.PartnersOfUser(ctx, user)
	if err != nil {
		return err
	}
	for _, pu := range partners {
		state, _, err := a.Commands.LoadPartner(ctx, pu.MPNID)
		if err != nil {
			return err
		}
		me, ok := state.UserByID[caller(c).UserID]
		if ok && me.MPNLinked && !me.CSPOnly && (me.HasRole(domain.RoleGlobalAdmin) || me.HasRole(domain.RoleMPNPartnerAdmin)) {
			return nil
		}
	}
	return Problemf(http.StatusForbidden, CodeForbidden, "an account reads only its own support plans, unless the caller is an admin of its partner")
}

func (a API) incidents(c echo.Context) error {
	mpn := c.Param("mpnId")
	status := domain.IncidentStatus(c.QueryParam("status"))
	switch status {
	case "", domain.IncidentStatusOpen, domain.IncidentStatusClosed:
	default:
		return Problemf(http.StatusBadRequest, CodeBadRequest, "status %q: want open or closed", status).With("field", "status")
	}
	if _, err := a.partnerForReading(c, mpn); err != nil {
		return err
	}
	answer, err := a.ReadModels.Incidents(c.Request().Context(), mpn, status)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answer)
}

// readsEverything: auditors read every partner's data, and so does the platform.
func readsEverything(p Principal) bool { return p.HasAnyRole(RoleAuditor, RolePlatform) }

// partnerForReading loads the partner a query is about from the event store and checks
// that the caller may read it: a system reader, or an account registered with it.
func (a API) partnerForReading(c echo.Context, mpnID string) (domain.Partner, error) {
	if domain.ValidateMPNID(mpnID) != nil {
		return domain.Partner{}, notFound("no partner %q: an MPN ID is 5 to 10 digits", mpnID)
	}
	state, _, err := a.Commands.LoadPartner(c.Request().Context(), mpnID)
	if err != nil {
		return domain.Partner{}, err
	}
	if !state.Enrolled() {
		return domain.Partner{}, notFound("partner %s is not enrolled", mpnID)
	}
	p := caller(c)
	if _, member := state.UserByID[p.UserID]; !member && !readsEverything(p) {
		return domain.Partner{}, Problemf(http.StatusForbidden, CodeForbidden,
			"account %s is not a user of partner %s; partner users read only their own partner's data", p.UserID, mpnID)
	}
	return state, nil
}

// readModelError turns the read model's "not found" into a 404 problem.
func readModelError(err error) error {
	if errors.Is(err, projections.ErrNotFound) {
		return notFound("%v", err)
	}
	return err
}
