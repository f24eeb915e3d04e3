package domain

import "slices"

// Level is a membership offer's level (R3, R6).
type Level string

const (
	LevelActionPack Level = "action-pack" // Microsoft Action Pack
	LevelSilver     Level = "silver"      // Silver competency
	LevelGold       Level = "gold"        // Gold competency
)

// rank orders levels for R6 (a partner's level is its highest active membership).
func (l Level) rank() int {
	switch l {
	case LevelActionPack:
		return 1
	case LevelSilver:
		return 2
	case LevelGold:
		return 3
	}
	return 0
}

func (l Level) valid() bool { return l.rank() > 0 }

// Levels lists every level, lowest first (the API documents them as the offer's values).
func Levels() []Level { return []Level{LevelActionPack, LevelSilver, LevelGold} }

// PoolKind names a benefit pool of a contract.
type PoolKind string

const (
	PoolProductSupport PoolKind = "product-support" // Microsoft Product Support, on-premises (R6, R11)
	PoolSignatureCloud PoolKind = "signature-cloud" // Signature Cloud Support, cloud only (R7, R15)
)

// Plan is what an incident is filed under: a benefit pool or a plan that draws on none.
type Plan string

const (
	PlanProductSupport Plan = Plan(PoolProductSupport)
	PlanSignatureCloud Plan = Plan(PoolSignatureCloud)
	PlanCSP            Plan = "cloud-solution-provider" // R20: no pool, no contract
	PlanPremier        Plan = "premier"                 // R21: paid, all products
	PlanAdvanced       Plan = "advanced"                // R21: paid, cloud only
)

// pool reports the benefit pool an incident under p draws on, if any.
func (p Plan) pool() (PoolKind, bool) {
	switch p {
	case PlanProductSupport, PlanSignatureCloud:
		return PoolKind(p), true
	}
	return "", false
}

func (p Plan) paid() bool { return slices.Contains(PaidPlans(), p) }

func (p Plan) valid() bool { return slices.Contains(Plans(), p) }

// Plans lists every plan an incident can be filed under.
func Plans() []Plan {
	return []Plan{PlanProductSupport, PlanSignatureCloud, PlanCSP, PlanPremier, PlanAdvanced}
}

// PaidPlans lists the plans a partner buys (R21).
func PaidPlans() []Plan { return []Plan{PlanPremier, PlanAdvanced} }

// Deployment says whether a catalog product runs on-premises or in the cloud.
type Deployment string

const (
	OnPremises Deployment = "on-premises"
	Cloud      Deployment = "cloud"
)

// Severity is how badly an incident hurts the customer, as Microsoft support grades
// requests: A critical, B moderate, C minimal impact.
type Severity string

const (
	SeverityCritical Severity = "critical" // A
	SeverityModerate Severity = "moderate" // B
	SeverityMinimal  Severity = "minimal"  // C
	// SeverityDefault is what an incident opened without a severity gets, and what an
	// IncidentOpened.v1 (recorded before severities existed) is read as.
	SeverityDefault = SeverityMinimal
)

func (s Severity) valid() bool {
	return s == SeverityCritical || s == SeverityModerate || s == SeverityMinimal
}
