package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/projections"
)

// QueryRoutes are the routes that read the read models. Each waits for its projection
// to reach minPosition and answers X-Projection-Position (read_your_writes.go). Who may
// read is decided on the partner's state in the event store, never on a read model
// that may lag, by the domain's read rules (domain/access.go, R1, R2, R4).
func QueryRoutes(a API) []Route {
	get := http.MethodGet
	return []Route{
		{Method: get, Path: "/v1/partners/:mpnId/benefits", Summary: "Memberships, level, activation; the IDs only for MPN-linked users and system roles (R3, R4, R6)",
			Projection: projections.BenefitsOverviewName, PartnerParam: "mpnId", Response: projections.Benefits{}, Handler: a.benefits},
		{Method: get, Path: "/v1/partners/:mpnId/remaining-incidents", Summary: "Remaining incidents per contract and pool; the contract IDs only for MPN-linked users and system roles (R4, R13, R14, R22)",
			Projection: projections.RemainingIncidentsName, PartnerParam: "mpnId", Response: projections.RemainingIncidents{}, Handler: a.remainingIncidents},
		{Method: get, Path: "/v1/contracts/:contractId/linked-accounts", Summary: "Accounts linked to a contract, in link order, paged by ?cursor= and ?limit=; only for MPN-linked users of its partner and system roles (R4, R12)",
			Projection: projections.LinkedAccountsName, PartnerParam: "contractId", PartnerOf: domain.PartnerOfContract,
			Query: pageParams, Response: projections.LinkedAccounts{}, Handler: a.linkedAccounts},
		{Method: get, Path: "/v1/accounts/:userId/support-plans", Summary: "Plans an account can use, and the unavailable ones with the reason, with the partners the caller may read (R4, R14)",
			Projection: projections.SupportPlansName, Response: projections.SupportPlans{}, Handler: a.supportPlans},
		{Method: get, Path: "/v1/partners/:mpnId/incidents", Summary: "A partner's incidents in the order opened, paged by ?cursor= and ?limit=, the contract IDs only for MPN-linked users and system roles (R4); ?status=open|closed filters",
			Projection: projections.IncidentsName, PartnerParam: "mpnId", Query: append([]QueryParam{incidentStatusParam}, pageParams...), Response: projections.Incidents{}, Handler: a.incidents},
	}
}

var incidentStatusParam = QueryParam{Name: "status", Enum: []string{string(domain.IncidentStatusOpen), string(domain.IncidentStatusClosed)},
	Description: "Only open or only closed incidents; every incident when absent"}

func (a API) benefits(c echo.Context) error {
	mpn := c.Param("mpnId")
	r, err := a.partnerForReading(c, mpn)
	if err != nil {
		return err
	}
	answer, err := a.ReadModels.Benefits(c.Request().Context(), mpn, a.now(), r.seesIDs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answer)
}

// remainingIncidents: a reader who may not see the Contract IDs gets the contracts'
// windows and pools without them (R4). The read model answers encoded bytes, kept
// until a commit touches the partner (projections.AnswerCache); the access check runs
// before, on every request.
func (a API) remainingIncidents(c echo.Context) error {
	mpn := c.Param("mpnId")
	r, err := a.partnerForReading(c, mpn)
	if err != nil {
		return err
	}
	body, err := a.ReadModels.RemainingIncidentsJSON(c.Request().Context(), mpn, a.now(), r.seesIDs)
	if err != nil {
		return err
	}
	return jsonBlob(c, body)
}

// linkedAccounts exists to show who uses a contract: only readers who may see its
// Contract ID get it (R4); anyone else is refused before learning whether it exists.
func (a API) linkedAccounts(c echo.Context) error {
	contract := c.Param("contractId")
	mpn, ok := domain.PartnerOfContract(contract)
	if !ok {
		return notFound("no contract %q", contract)
	}
	r, err := a.partnerForReading(c, mpn)
	if err != nil {
		return err
	}
	if err := domain.CanSeeContractIDs(by(c), r.state.PartnerUsers()); err != nil {
		return forbidden(err)
	}
	if _, ok := r.state.ContractByID[contract]; !ok {
		return notFound("partner %s has no contract %s", mpn, contract)
	}
	page, err := pageOf(c)
	if err != nil {
		return err
	}
	answer, err := a.ReadModels.LinkedAccounts(c.Request().Context(), contract, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answer)
}

// supportPlans shows an account's plans only with the partners where the caller may
// read that account (domain.CanReadAccount: the account itself, a system reader, or an
// MPN-linked admin of that partner), and the Contract IDs only where the caller may see
// them (R4). A partner that registered another partner's account sees none of what the
// account holds elsewhere (R4, shared accounts).
func (a API) supportPlans(c echo.Context) error {
	ctx := c.Request().Context()
	user, me := c.Param("userId"), by(c)
	answer, err := a.ReadModels.SupportPlans(ctx, user, a.now())
	if err != nil {
		return err
	}
	reading, err := a.accountReading(ctx, me, user, answer)
	if err != nil {
		return err
	}
	// Someone else's account with no partner the caller may read it with: refused, so
	// that a stranger cannot tell an unknown account from one of another partner.
	if len(reading) == 0 && user != me.UserID && !me.ReadsEverything() {
		return Problemf(http.StatusForbidden, CodeForbidden, "an account reads only its own support plans, unless the caller is an admin of its partner")
	}
	return c.JSON(http.StatusOK, answer.ForReader(func(mpn string) projections.PartnerReading { return reading[mpn] }))
}

// accountReading decides, on each partner's state in the event store, how far me reads
// what account user holds with it. The partners are those of the plans (the read model
// the route waited for) and those the account is registered with, which another read
// model answers and may lag.
func (a API) accountReading(ctx context.Context, me domain.Actor, user string, plans projections.SupportPlans) (map[string]projections.PartnerReading, error) {
	registered, err := a.ReadModels.PartnersOfUser(ctx, user)
	if err != nil {
		return nil, err
	}
	var mpns []string
	for _, p := range slices.Concat(plans.Usable, plans.Unavailable) {
		mpns = append(mpns, p.MPNID)
	}
	for _, pu := range registered {
		mpns = append(mpns, pu.MPNID)
	}
	slices.Sort(mpns)
	reading := map[string]projections.PartnerReading{}
	for _, mpn := range slices.Compact(mpns) {
		state, _, err := a.Commands.LoadPartner(ctx, mpn)
		if err != nil {
			return nil, err
		}
		users := state.PartnerUsers()
		if domain.CanReadAccount(me, users, user) == nil {
			reading[mpn] = projections.PartnerReading{Read: true, ContractIDs: domain.CanSeeContractIDs(me, users) == nil}
		}
	}
	return reading, nil
}

// incidents: a reader who may not see the Contract IDs gets the incidents without the
// contract they drew on (R4).
func (a API) incidents(c echo.Context) error {
	mpn := c.Param("mpnId")
	status := domain.IncidentStatus(c.QueryParam("status"))
	switch status {
	case "", domain.IncidentStatusOpen, domain.IncidentStatusClosed:
	default:
		return Problemf(http.StatusBadRequest, CodeBadRequest, "status %q: want open or closed", status).With("field", "status")
	}
	page, err := pageOf(c)
	if err != nil {
		return err
	}
	r, err := a.partnerForReading(c, mpn)
	if err != nil {
		return err
	}
	answer, err := a.ReadModels.Incidents(c.Request().Context(), mpn, status, page)
	if err != nil {
		return err
	}
	if !r.seesIDs {
		answer = answer.WithoutContractIDs()
	}
	return c.JSON(http.StatusOK, answer)
}

// partnerRead is a partner the caller may read, and whether it sees the IDs (R4).
type partnerRead struct {
	state   domain.Partner
	seesIDs bool
}

// partnerForReading loads the partner a query is about from the event store and asks
// the domain's read rules (domain/access.go) whether and how far the caller reads it.
func (a API) partnerForReading(c echo.Context, mpnID string) (partnerRead, error) {
	if domain.ValidateMPNID(mpnID) != nil {
		return partnerRead{}, notFound("no partner %q: an MPN ID is 5 to 10 digits", mpnID)
	}
	state, _, err := a.Commands.LoadPartner(c.Request().Context(), mpnID)
	if err != nil {
		return partnerRead{}, err
	}
	if !state.Enrolled() {
		return partnerRead{}, notFound("partner %s is not enrolled", mpnID)
	}
	users := state.PartnerUsers()
	if err := domain.CanRead(by(c), users); err != nil {
		return partnerRead{}, forbidden(err)
	}
	return partnerRead{state: state, seesIDs: domain.CanSeeContractIDs(by(c), users) == nil}, nil
}

// forbidden answers a read the domain's read rules refused: 403 with the code the read
// routes have always used, and the rule's own explanation.
func forbidden(err error) error {
	var refusal *domain.Error
	if errors.As(err, &refusal) && refusal.Code == domain.CodeNotAuthorized {
		return Problemf(http.StatusForbidden, CodeForbidden, "%s", refusal.Message)
	}
	return err
}

// jsonBlob answers 200 with an encoded JSON body, indented when the query asks ?pretty,
// as echo.Context.JSON does for a value.
func jsonBlob(c echo.Context, body []byte) error {
	if c.Request().URL.RawQuery != "" { // (QueryParams makes a map)
		if _, pretty := c.QueryParams()["pretty"]; pretty {
			var b bytes.Buffer
			if err := json.Indent(&b, body, "", "  "); err != nil {
				return fmt.Errorf("indent the answer: %w", err)
			}
			body = b.Bytes()
		}
	}
	return c.JSONBlob(http.StatusOK, body)
}
