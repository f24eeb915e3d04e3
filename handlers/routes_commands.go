package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
	"ledger/projections"
)

// PartnerCommands runs commands against the event store (commands.Executor implements
// it). LoadPartner is the authoritative state: routes use it to authorise reads and to
// find contracts and users, so that no answer depends on a read model that lags. Its
// incidents are not a view (the executor keeps them compacted): no route renders
// incidents from it or from an Outcome's State.
type PartnerCommands interface {
	Partner(ctx context.Context, mpnID string, cmd domain.Command, meta commands.Meta) (commands.Outcome, error)
	Rules(ctx context.Context, cmd domain.PublishRules, meta commands.Meta) (commands.Outcome, error)
	LoadPartner(ctx context.Context, mpnID string) (domain.Partner, eventstore.Position, error)
}

// ReadModels answers queries (projections.ReadModels implements it).
type ReadModels interface {
	// RemainingIncidentsJSON is the encoded answer, read (or kept since no commit
	// touched mpnID) once the route waited for the query's position.
	RemainingIncidentsJSON(ctx context.Context, mpnID string, now time.Time, revealIDs bool) ([]byte, error)
	LinkedAccounts(ctx context.Context, contractID string, page paging.Page) (projections.LinkedAccounts, error)
	SupportPlans(ctx context.Context, userID string, now time.Time) (projections.SupportPlans, error)
	Incidents(ctx context.Context, mpnID string, status domain.IncidentStatus, page paging.Page) (projections.Incidents, error)
	Benefits(ctx context.Context, mpnID string, now time.Time, revealIDs bool) (projections.Benefits, error)
	PartnersOfUser(ctx context.Context, userID string) ([]projections.PartnerUser, error)
}

// API is what the command and query route groups need from the rest of the process.
type API struct {
	Commands   PartnerCommands
	ReadModels ReadModels
	// Now is the instant queries are answered at (time.Now when nil). Commands take
	// theirs from the executor; tests give both the same clock.
	Now func() time.Time
}

func (a API) now() time.Time {
	if a.Now == nil {
		return time.Now().UTC()
	}
	return a.Now().UTC()
}

// Command bodies and answers. Every answer carries position: the global position of
// the command's last event (or of the stream's last event when it recorded nothing),
// to pass as minPosition to the queries that follow.

// EnrollPartnerRequest enrols a partner; csp marks a Cloud Solution Provider (R20).
type EnrollPartnerRequest struct {
	MPNID string `json:"mpnId" binding:"required" maxLength:"64"`
	Name  string `json:"name" binding:"required" maxLength:"200"`
	CSP   bool   `json:"csp"`
}

// PartnerAnswer answers enrolment.
type PartnerAnswer struct {
	MPNID    string `json:"mpnId"`
	Position string `json:"position"`
}

// GrantMembershipRequest grants an offer for [validFrom, validTo); validFrom defaults
// to now, competency is required for silver and gold.
type GrantMembershipRequest struct {
	Offer      string     `json:"offer" binding:"required" maxLength:"64" enum:"level"`
	Competency string     `json:"competency" maxLength:"100"`
	ValidFrom  *time.Time `json:"validFrom"`
	ValidTo    time.Time  `json:"validTo" binding:"required"`
}

// MembershipAnswer answers a grant or an early end.
type MembershipAnswer struct {
	MembershipID string `json:"membershipId"`
	Position     string `json:"position"`
}

// RegisterUserRequest registers a partner user account (R1, R2, R4, R19 read these).
type RegisterUserRequest struct {
	UserID      string   `json:"userId" binding:"required" maxLength:"254"`
	AccountType string   `json:"accountType" binding:"required" maxLength:"64" enum:"accountType"`
	MPNLinked   bool     `json:"mpnLinked"`
	CSPOnly     bool     `json:"cspOnly"`
	Roles       []string `json:"roles" maxLength:"64" enum:"role"`
}

// ChangeRolesRequest replaces a user's partner roles.
type ChangeRolesRequest struct {
	Roles []string `json:"roles" binding:"required" maxLength:"64" enum:"role"`
}

// UserAnswer answers a registration or a role change.
type UserAnswer struct {
	UserID   string `json:"userId"`
	Position string `json:"position"`
}

// ActivationAnswer carries the benefit's IDs (R4, R5).
type ActivationAnswer struct {
	AccessID   string `json:"accessId"`
	ContractID string `json:"contractId"`
	Position   string `json:"position"`
}

// PurchasePlanRequest records a paid plan, premier or advanced (R21).
type PurchasePlanRequest struct {
	Plan      string     `json:"plan" binding:"required" maxLength:"64" enum:"paidPlan"`
	ValidFrom *time.Time `json:"validFrom"`
	ValidTo   time.Time  `json:"validTo" binding:"required"`
}

// PurchaseAnswer answers a purchase.
type PurchaseAnswer struct {
	PaidPlanID string `json:"paidPlanId"`
	Position   string `json:"position"`
}

// LinkContractRequest presents the Access ID for the contract in the path (R12); userId
// lets an MPN-linked admin link another account of the partner (default: the caller).
type LinkContractRequest struct {
	AccessID string `json:"accessId" binding:"required" maxLength:"64"`
	UserID   string `json:"userId" maxLength:"254"`
}

// LinkAnswer says "linked" (201) or "already-linked" (200, R17).
type LinkAnswer struct {
	Status     string `json:"status"`
	ContractID string `json:"contractId"`
	UserID     string `json:"userId"`
	Position   string `json:"position"`
}

// Link statuses.
const (
	LinkStatusLinked        = "linked"
	LinkStatusAlreadyLinked = "already-linked"
)

// OpenIncidentRequest files an incident. kind is the plan: product-support or
// signature-cloud draw on a contract's pool; cloud-solution-provider (R20), premier and
// advanced (R21) draw on none and name the partner by mpnId. accessId with contractId
// links the contract on first use (R12). The partner is the contract's, else mpnId's.
type OpenIncidentRequest struct {
	MPNID      string `json:"mpnId" maxLength:"64"`
	ContractID string `json:"contractId" maxLength:"64"`
	AccessID   string `json:"accessId" maxLength:"64"`
	Kind       string `json:"kind" binding:"required" maxLength:"64" enum:"plan"`
	Product    string `json:"product" binding:"required" maxLength:"100"`
	Version    string `json:"version" maxLength:"50"`
	CustomerID string `json:"customerId" maxLength:"128"`
	// CustomerCountry is the customer's ISO 3166-1 alpha-2 country (needs customerId).
	CustomerCountry string `json:"customerCountry" maxLength:"2"`
	// Severity is critical, moderate or minimal (the default).
	Severity string `json:"severity" maxLength:"16"`
	Title    string `json:"title" maxLength:"200"`
}

// IncidentAnswer answers an opened incident; remaining is what the pool has left (null:
// unlimited, or a plan without a pool).
type IncidentAnswer struct {
	IncidentID string `json:"incidentId"`
	ContractID string `json:"contractId,omitempty"`
	Remaining  *int   `json:"remaining"`
	Position   string `json:"position"`
}

// CloseIncidentRequest is the optional body of a close.
type CloseIncidentRequest struct {
	Resolution string `json:"resolution" maxLength:"2000" multiline:"true"`
}

// CloseAnswer answers a close (R22: closing gives nothing back).
type CloseAnswer struct {
	IncidentID string `json:"incidentId"`
	Status     string `json:"status"`
	Position   string `json:"position"`
}

// PublishRulesRequest is a rules version (R10): the entitlement table, the cloud
// competencies and the product catalog; effectiveFrom defaults to now.
type PublishRulesRequest struct {
	Version           int                                      `json:"version" binding:"required"`
	EffectiveFrom     *time.Time                               `json:"effectiveFrom"`
	Entitlements      map[domain.Level]domain.LevelEntitlement `json:"entitlements" binding:"required" maxLength:"64"`
	CloudCompetencies []string                                 `json:"cloudCompetencies" binding:"required" maxLength:"100"`
	Products          []domain.Product                         `json:"products" binding:"required"`
}

// RulesAnswer answers a rules publication (R10).
type RulesAnswer struct {
	Version       int       `json:"version"`
	EffectiveFrom time.Time `json:"effectiveFrom"`
	Position      string    `json:"position"`
}

// CommandRoutes are the routes that change the ledger.
func CommandRoutes(a API) []Route {
	platform := []SystemRole{RolePlatform}
	created := []int{http.StatusCreated}
	return []Route{
		{Method: http.MethodPost, Path: "/v1/partners", Summary: "Enrol a partner (platform)", Roles: platform,
			Request: EnrollPartnerRequest{}, Response: PartnerAnswer{}, Statuses: created, Handler: a.enrollPartner},
		{Method: http.MethodPost, Path: "/v1/partners/:mpnId/memberships", Summary: "Grant a membership (platform; R3, R6)",
			Roles: platform, Request: GrantMembershipRequest{}, Response: MembershipAnswer{}, Statuses: created, Handler: a.grantMembership},
		{Method: http.MethodPost, Path: "/v1/partners/:mpnId/memberships/:membershipId/end", Summary: "End a membership early (platform)",
			Roles: platform, Response: MembershipAnswer{}, Handler: a.endMembership},
		{Method: http.MethodPost, Path: "/v1/partners/:mpnId/users", Summary: "Register a partner user (platform or the partner's global admin)",
			Request: RegisterUserRequest{}, Response: UserAnswer{}, Statuses: created, Handler: a.registerUser},
		{Method: http.MethodPut, Path: "/v1/partners/:mpnId/users/:userId/roles", Summary: "Replace a user's partner roles (platform or the partner's global admin)",
			Request: ChangeRolesRequest{}, Response: UserAnswer{}, Handler: a.changeRoles},
		{Method: http.MethodPost, Path: "/v1/partners/:mpnId/technical-support/activate", Summary: "Activate the technical-support benefit (R1, R3, R5)",
			Response: ActivationAnswer{}, Statuses: []int{http.StatusCreated, http.StatusOK}, Handler: a.activate},
		{Method: http.MethodPost, Path: "/v1/partners/:mpnId/support-plans", Summary: "Record a paid support plan (R21)",
			Request: PurchasePlanRequest{}, Response: PurchaseAnswer{}, Statuses: created, Handler: a.purchase},
		{Method: http.MethodPost, Path: "/v1/contracts/:contractId/links", Summary: "Link the contract to the caller's account (R12, R17, R18)",
			Request: LinkContractRequest{}, Response: LinkAnswer{}, Statuses: []int{http.StatusCreated, http.StatusOK}, Handler: a.linkContract},
		{Method: http.MethodPost, Path: "/v1/incidents", Summary: "Open an incident (R11, R15, R16, R19-R23)",
			Request: OpenIncidentRequest{}, Response: IncidentAnswer{}, Statuses: created, Handler: a.openIncident},
		{Method: http.MethodPost, Path: "/v1/incidents/:incidentId/close", Summary: "Close an incident; the body is optional (R22)",
			Request: CloseIncidentRequest{}, Response: CloseAnswer{}, Handler: a.closeIncident},
		{Method: http.MethodPost, Path: "/v1/rules", Summary: "Publish a rules version (platform, ops; R10)",
			Roles: []SystemRole{RolePlatform, RoleOps}, Request: PublishRulesRequest{}, Response: RulesAnswer{},
			Statuses: []int{http.StatusCreated, http.StatusOK}, Handler: a.publishRules},
	}
}

func (a API) enrollPartner(c echo.Context) error {
	var req EnrollPartnerRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	out, err := a.decide(c, req.MPNID, domain.EnrollPartner{By: by(c), MPNID: req.MPNID, Name: req.Name, CSP: req.CSP})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, PartnerAnswer{MPNID: req.MPNID, Position: out.Position.String()})
}

func (a API) grantMembership(c echo.Context) error {
	var req GrantMembershipRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	mpn := c.Param("mpnId")
	out, err := a.decide(c, mpn, domain.GrantMembership{By: by(c), MPNID: mpn, Level: domain.Level(req.Offer),
		Competency: req.Competency, ValidFrom: orZero(req.ValidFrom), ValidUntil: req.ValidTo})
	if err != nil {
		return err
	}
	granted, _ := lastEvent[domain.MembershipGranted](out)
	return c.JSON(http.StatusCreated, MembershipAnswer{MembershipID: granted.MembershipID, Position: out.Position.String()})
}

func (a API) endMembership(c echo.Context) error {
	mpn, id := c.Param("mpnId"), c.Param("membershipId")
	out, err := a.decide(c, mpn, domain.EndMembership{By: by(c), MPNID: mpn, MembershipID: id})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, MembershipAnswer{MembershipID: id, Position: out.Position.String()})
}

func (a API) registerUser(c echo.Context) error {
	var req RegisterUserRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	mpn := c.Param("mpnId")
	out, err := a.decide(c, mpn, domain.RegisterUser{By: by(c), MPNID: mpn, UserID: req.UserID,
		AccountType: domain.AccountType(req.AccountType), MPNLinked: req.MPNLinked, CSPOnly: req.CSPOnly, Roles: rolesOf(req.Roles)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, UserAnswer{UserID: req.UserID, Position: out.Position.String()})
}

func (a API) changeRoles(c echo.Context) error {
	var req ChangeRolesRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	mpn, user := c.Param("mpnId"), c.Param("userId")
	out, err := a.decide(c, mpn, domain.ChangeUserRoles{By: by(c), MPNID: mpn, UserID: user, Roles: rolesOf(req.Roles)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, UserAnswer{UserID: user, Position: out.Position.String()})
}

func (a API) activate(c echo.Context) error {
	mpn := c.Param("mpnId")
	out, err := a.decide(c, mpn, domain.ActivateBenefit{By: by(c), MPNID: mpn})
	if err != nil {
		return err
	}
	act, ok := out.State.Activation()
	if !ok {
		return errors.New("activate: accepted without an activation in the state")
	}
	status := http.StatusCreated
	if len(out.Events) == 0 {
		status = http.StatusOK // R5: already active, same IDs, nothing recorded
	}
	return c.JSON(status, ActivationAnswer{AccessID: act.AccessID, ContractID: act.ContractID, Position: out.Position.String()})
}

func (a API) purchase(c echo.Context) error {
	var req PurchasePlanRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	mpn := c.Param("mpnId")
	out, err := a.decide(c, mpn, domain.PurchaseSupportPlan{By: by(c), MPNID: mpn, Plan: domain.Plan(req.Plan),
		ValidFrom: orZero(req.ValidFrom), ValidUntil: req.ValidTo})
	if err != nil {
		return err
	}
	bought, _ := lastEvent[domain.SupportPlanPurchased](out)
	return c.JSON(http.StatusCreated, PurchaseAnswer{PaidPlanID: bought.PlanID, Position: out.Position.String()})
}

func (a API) linkContract(c echo.Context) error {
	contract := c.Param("contractId")
	mpn, ok := domain.PartnerOfContract(contract)
	if !ok {
		return notFound("no contract %q", contract)
	}
	var req LinkContractRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	user := req.UserID
	if user == "" {
		user = caller(c).UserID
	}
	out, err := a.decide(c, mpn, domain.LinkContract{By: by(c), MPNID: mpn, UserID: req.UserID, AccessID: req.AccessID, ContractID: contract})
	if err != nil {
		return err
	}
	answer := LinkAnswer{Status: LinkStatusLinked, ContractID: contract, UserID: user, Position: out.Position.String()}
	if len(out.Events) == 0 {
		answer.Status = LinkStatusAlreadyLinked // R17: no error, nothing recorded
		return c.JSON(http.StatusOK, answer)
	}
	return c.JSON(http.StatusCreated, answer)
}

func (a API) openIncident(c echo.Context) error {
	var req OpenIncidentRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	mpn := req.MPNID
	if req.ContractID != "" {
		owner, ok := domain.PartnerOfContract(req.ContractID)
		switch {
		case !ok:
			return notFound("no contract %q", req.ContractID)
		case mpn != "" && mpn != owner:
			return Problemf(http.StatusBadRequest, CodeBadRequest, "contract %s belongs to partner %s, not %s", req.ContractID, owner, mpn).With("field", "mpnId")
		}
		mpn = owner
	}
	if mpn == "" {
		return Problemf(http.StatusBadRequest, CodeBadRequest, "name the contract (contractId) or, for plans without one, the partner (mpnId)").With("field", "contractId")
	}
	out, err := a.decide(c, mpn, domain.OpenIncident{By: by(c), MPNID: mpn, Plan: domain.Plan(req.Kind), Product: req.Product,
		Version: req.Version, CustomerID: req.CustomerID, CustomerCountry: req.CustomerCountry, Severity: domain.Severity(req.Severity),
		Title: req.Title, ContractID: req.ContractID, AccessID: req.AccessID})
	if err != nil {
		return err
	}
	opened, ok := lastEvent[domain.IncidentOpened](out)
	if !ok {
		return errors.New("open incident: accepted without an IncidentOpened event")
	}
	answer := IncidentAnswer{IncidentID: opened.IncidentID, ContractID: opened.ContractID, Position: out.Position.String()}
	if domain.CanSeeContractIDs(by(c), out.State.PartnerUsers()) != nil {
		answer.ContractID = "" // R4: an unlinked account draws on its linked contract without seeing the ID
	}
	for _, p := range out.State.ContractByID[opened.ContractID].Pools {
		if p.Kind == opened.Pool {
			answer.Remaining = p.Remaining()
		}
	}
	return c.JSON(http.StatusCreated, answer)
}

func (a API) closeIncident(c echo.Context) error {
	id := c.Param("incidentId")
	mpn, ok := domain.PartnerOfIncident(id)
	if !ok {
		return notFound("no incident %q", id)
	}
	var req CloseIncidentRequest
	if err := bindOptional(c, &req); err != nil {
		return err
	}
	out, err := a.decide(c, mpn, domain.CloseIncident{By: by(c), MPNID: mpn, IncidentID: id, Resolution: req.Resolution})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, CloseAnswer{IncidentID: id, Status: string(domain.IncidentStatusClosed), Position: out.Position.String()})
}

func (a API) publishRules(c echo.Context) error {
	var req PublishRulesRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	rules := domain.Rules{Version: req.Version, EffectiveFrom: orZero(req.EffectiveFrom), Entitlements: req.Entitlements,
		CloudCompetencies: req.CloudCompetencies, Products: req.Products}
	cmd := domain.PublishRules{By: by(c), Rules: rules}
	meta, err := withIdempotencyKey(c, metaOf(c), cmd)
	if err != nil {
		return err
	}
	out, err := a.Commands.Rules(c.Request().Context(), cmd, meta)
	if err != nil {
		return err
	}
	markReplayed(c, out)
	published, ok := lastEvent[domain.RulesPublished](out)
	if !ok {
		return c.JSON(http.StatusOK, RulesAnswer{Version: out.Rules.Version, EffectiveFrom: out.Rules.EffectiveFrom, Position: out.Position.String()})
	}
	return c.JSON(http.StatusCreated, RulesAnswer{Version: published.Rules.Version, EffectiveFrom: published.Rules.EffectiveFrom, Position: out.Position.String()})
}

// decide sends cmd to the partner's stream, recording the request's metadata.
// A partner with too many commands in flight is refused here, where the partner is known
// whichever way the route found it.
func (a API) decide(c echo.Context, mpnID string, cmd domain.Command) (commands.Outcome, error) {
	release, err := admitPartner(c, mpnID)
	if err != nil {
		return commands.Outcome{}, err
	}
	defer release()
	meta, err := withIdempotencyKey(c, metaOf(c), cmd)
	if err != nil {
		return commands.Outcome{}, err
	}
	out, err := a.Commands.Partner(c.Request().Context(), mpnID, cmd, meta)
	markReplayed(c, out)
	return out, err
}

// by is the caller as the actor of a command.
func by(c echo.Context) domain.Actor { return actorOf(caller(c)) }

// caller is the authenticated principal of a route that requires a token.
func caller(c echo.Context) Principal {
	p, _ := PrincipalFrom(c.Request().Context())
	return p
}

// actorOf is the principal as the domain sees it.
func actorOf(p Principal) domain.Actor {
	roles := make([]string, len(p.SystemRoles))
	for i, r := range p.SystemRoles {
		roles[i] = string(r)
	}
	return domain.Actor{UserID: p.UserID, SystemRoles: roles}
}

// metaOf is the metadata of the events a request records: who, from the token, and the
// request's correlation ID.
func metaOf(c echo.Context) commands.Meta {
	return commands.Meta{Actor: actorOf(caller(c)), CorrelationID: CorrelationID(c.Request().Context())}
}

// lastEvent finds the last event of type E a command recorded.
func lastEvent[E domain.Event](out commands.Outcome) (E, bool) {
	for i := len(out.Events) - 1; i >= 0; i-- {
		if e, ok := out.Events[i].(E); ok {
			return e, true
		}
	}
	var zero E
	return zero, false
}

func rolesOf(names []string) []domain.Role {
	roles := make([]domain.Role, len(names))
	for i, n := range names {
		roles[i] = domain.Role(n)
	}
	return roles
}

func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// bindOptional is Bind for a body that may be left out altogether.
func bindOptional(c echo.Context, dst any) error {
	if err := requireJSON(c.Request().Header.Get(echo.HeaderContentType)); err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		return Problemf(http.StatusBadRequest, CodeBadRequest, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return BindJSON(body, dst)
}

func notFound(format string, args ...any) *Problem {
	return Problemf(http.StatusNotFound, CodeNotFound, format, args...)
}
