package domain

import (
	"fmt"
	"strings"

	"golang.org/x/text/language"
)

func (d decision) openIncident(c OpenIncident) ([]Event, error) {
	c.Product, c.Version, c.CustomerID = strings.TrimSpace(c.Product), strings.TrimSpace(c.Version), strings.TrimSpace(c.CustomerID)
	if !c.Plan.valid() {
		return nil, refusef(CodeValidation, "plan %q: want product-support, signature-cloud, cloud-solution-provider, premier or advanced", c.Plan)
	}
	if c.Product == "" {
		return nil, refuse(CodeValidation, "product is required")
	}
	var err error
	if c.Severity, c.CustomerCountry, err = incidentDetails(c); err != nil {
		return nil, err
	}
	u, ok := d.s.UserByID[c.By.UserID]
	if !ok {
		return nil, notAuthorized(fmt.Sprintf("%q is not a user account of partner %s", c.By.UserID, d.s.MPNID))
	}
	switch {
	case c.Plan == PlanCSP:
		return d.openOnCSP(c, u)
	case c.Plan.paid():
		return d.openOnPaidPlan(c, u)
	}
	return d.openOnBenefit(c)
}

// incidentDetails checks and normalises the severity (empty: SeverityDefault) and the
// customer's country (an ISO 3166-1 alpha-2 code, any case; only with a customer).
func incidentDetails(c OpenIncident) (Severity, string, error) {
	sev := Severity(strings.ToLower(strings.TrimSpace(string(c.Severity))))
	if sev == "" {
		sev = SeverityDefault
	}
	if !sev.valid() {
		return "", "", refusef(CodeValidation, "severity %q: want critical, moderate or minimal", c.Severity)
	}
	country := strings.ToUpper(strings.TrimSpace(c.CustomerCountry))
	if country == "" {
		return sev, "", nil
	}
	if c.CustomerID == "" {
		return "", "", refuse(CodeValidation, "customerCountry is the country of the customer: name the customer (customerId) too")
	}
	if region, err := language.ParseRegion(country); err != nil || len(country) != 2 || !region.IsCountry() {
		return "", "", refusef(CodeValidation, "customerCountry %q: want an ISO 3166-1 alpha-2 country code such as NL", c.CustomerCountry)
	}
	return sev, country, nil
}

// forCustomer applies R19: cloud requests for a CSP customer come from an admin agent.
func forCustomer(c OpenIncident, u User, cloud bool) error {
	if cloud && c.CustomerID != "" && !u.HasRole(RoleAdminAgent) {
		return notAuthorized("cloud support requests for a customer are made by an admin agent (R19)")
	}
	return nil
}

// openOnBenefit draws on a contract's pool: R2, R11, R12, R15, R16, R19, R22, R23.
func (d decision) openOnBenefit(c OpenIncident) ([]Event, error) {
	u, err := d.benefitUser(c.By)
	if err != nil {
		return nil, err
	}
	current, ok := d.s.currentContract()
	if !ok {
		return nil, d.notActivated()
	}
	kind, _ := c.Plan.pool()
	var prod Product
	if kind == PoolProductSupport {
		if prod, err = d.r.CheckProductSupport(c.Product, c.Version, d.now); err != nil {
			return nil, err
		}
	} else {
		if prod, ok = d.r.cloudProduct(c.Product); !ok {
			return nil, refusef(CodeProductNotEligible, "Signature Cloud Support covers cloud products only, not %s %s; use Microsoft Product Support or a partner support plan", c.Product, c.Version)
		}
		if err := forCustomer(c, u, true); err != nil {
			return nil, err
		}
		if _, ok := current.pool(PoolSignatureCloud); !ok {
			return nil, refuse(CodeNoCloudSupport, "Signature Cloud Support needs a Silver or Gold competency; Action Pack gives product support only (R9, R15)")
		}
	}
	var events []Event
	contract := current // R16: a contract-free product (Microsoft 365) uses the partner's current contract unlinked
	if kind == PoolProductSupport || !prod.ContractFree {
		if contract, events, err = d.contractFor(u, c); err != nil {
			return nil, err
		}
	}
	if !contract.validAt(d.now) {
		return nil, d.expired(contract) // R23
	}
	pool, ok := contract.pool(kind)
	if !ok && kind == PoolSignatureCloud {
		return nil, refusef(CodeNoCloudSupport, "contract %s has no Signature Cloud Support (R15)", contract.ContractID)
	}
	if !ok || pool.empty() {
		zero := 0
		return nil, &Error{Code: CodePoolExhausted, Remaining: &zero,
			Message: fmt.Sprintf("no %s incidents remain on contract %s (R22)", kind, contract.ContractID)}
	}
	return append(events, d.opened(c, prod, u, contract.ContractID, kind, "")), nil
}

// contractFor finds the contract an account uses (R12): presenting both IDs links it
// (if it is not linked yet); naming a contract needs it linked; naming none takes the
// account's most recently issued linked contract.
func (d decision) contractFor(u User, c OpenIncident) (Contract, []Event, error) {
	if c.AccessID != "" {
		ct, err := d.presentedContract(c.AccessID, c.ContractID)
		if err != nil {
			return Contract{}, nil, err
		}
		if ct.linkedTo(u.UserID) {
			return ct, nil, nil
		}
		return ct, []Event{d.linked(ct, u, u.UserID)}, nil
	}
	if c.ContractID != "" {
		if ct, ok := d.s.ContractByID[c.ContractID]; ok && ct.linkedTo(u.UserID) {
			return ct, nil, nil
		}
		return Contract{}, nil, refusef(CodeNotLinked, "contract %s is not linked to this account: present the Access ID and Contract ID the first time (R12)", c.ContractID)
	}
	var newest Contract
	for _, ct := range d.s.ContractByID {
		if ct.linkedTo(u.UserID) && (newest.ContractID == "" || ct.ValidFrom.After(newest.ValidFrom)) {
			newest = ct
		}
	}
	if newest.ContractID == "" {
		return Contract{}, nil, refuse(CodeNotLinked, "this account has no linked contract: present the Access ID and Contract ID the first time (R12)")
	}
	return newest, nil, nil
}

// openOnCSP: R20, the Cloud Solution Provider plan, for CSP partners' Azure requests.
// Decision: it is not a benefit action, so R2 does not apply, and it always names the
// CSP customer (the plan exists for them), which makes R19 require an admin agent.
func (d decision) openOnCSP(c OpenIncident, u User) ([]Event, error) {
	if !d.s.CSP {
		return nil, refusef(CodeNoSupportPlan, "partner %s is not a Cloud Solution Provider; the CSP plan is for CSP partners (R20)", d.s.MPNID)
	}
	prod, ok := d.r.cloudProduct(c.Product)
	if !ok || !prod.CSPPlan {
		return nil, refusef(CodeProductNotEligible, "the Cloud Solution Provider plan covers Azure requests, not %s (R20)", c.Product)
	}
	if c.CustomerID == "" {
		return nil, refuse(CodeValidation, "a Cloud Solution Provider request names the CSP customer (R20)")
	}
	if err := forCustomer(c, u, true); err != nil {
		return nil, err
	}
	return []Event{d.opened(c, prod, u, "", "", "")}, nil
}

// openOnPaidPlan: R21. Premier covers all products (also ones outside the catalog and
// old versions); Advanced covers cloud products only. Neither draws on a pool.
func (d decision) openOnPaidPlan(c OpenIncident, u User) ([]Event, error) {
	var plan PaidPlan
	for _, p := range d.s.sortedPaidPlans() {
		if p.Plan == c.Plan && p.ActiveAt(d.now) {
			plan = p
			break
		}
	}
	if plan.PlanID == "" {
		return nil, refusef(CodeNoSupportPlan, "partner %s holds no active %s support plan (R21)", d.s.MPNID, c.Plan)
	}
	prod, ok := d.r.product(c.Product, c.Version)
	if !ok {
		prod = Product{Name: c.Product, Version: c.Version}
	}
	if c.Plan == PlanAdvanced && prod.Deployment != Cloud {
		return nil, refusef(CodeProductNotEligible, "Advanced Support for Partners covers cloud products only, not %s (R21)", c.Product)
	}
	if err := forCustomer(c, u, prod.Deployment == Cloud); err != nil {
		return nil, err
	}
	return []Event{d.opened(c, prod, u, "", "", plan.PlanID)}, nil
}

func (d decision) opened(c OpenIncident, prod Product, u User, contractID string, pool PoolKind, planID string) IncidentOpened {
	version := prod.Version
	if version == "" && prod.Deployment != Cloud {
		version = c.Version
	}
	return IncidentOpened{
		EventMeta: d.meta, MPNID: d.s.MPNID, IncidentID: IncidentID(d.s.MPNID, d.s.IncidentCount+1),
		Plan: c.Plan, ContractID: contractID, Pool: pool, PaidPlanID: planID, Product: prod.Name,
		Version: version, CustomerID: c.CustomerID, CustomerCountry: c.CustomerCountry, Severity: c.Severity,
		Title: strings.TrimSpace(c.Title), OpenedBy: u.UserID,
	}
}

// closeIncident: R22. The opener, a partner admin, the platform or ops may close; closing
// a closed incident records nothing. It asks of the incident only what a deciding
// state keeps of an incident (IncidentLog.decisionFacts).
func (d decision) closeIncident(c CloseIncident) ([]Event, error) {
	openedBy, closed, ok := d.s.IncidentLog.decisionFacts(c.IncidentID)
	if !ok {
		return nil, refusef(CodeNotFound, "incident %q not found", c.IncidentID)
	}
	u, isUser := d.s.UserByID[c.By.UserID]
	allowed := c.By.HasSystemRole(SystemPlatform) || c.By.HasSystemRole(SystemOps) ||
		(isUser && (u.UserID == openedBy || u.isAdmin()))
	if !allowed {
		return nil, notAuthorized("only the incident's opener, a partner admin or ops close an incident")
	}
	if closed {
		return nil, nil
	}
	return []Event{IncidentClosed{EventMeta: d.meta, MPNID: d.s.MPNID, IncidentID: c.IncidentID,
		ClosedBy: actorName(c.By), Resolution: strings.TrimSpace(c.Resolution)}}, nil
}
