package domain

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Rules is one version of the benefit rules as data (R10): the entitlement table (R6,
// R7, R9), the cloud-competency list (R8) and the product catalog with its lifecycle
// (R11, R16, R20). Rules values are shared read-only; never modify one in place.
type Rules struct {
	Version           int                        `json:"version"`
	EffectiveFrom     time.Time                  `json:"effectiveFrom"`
	Entitlements      map[Level]LevelEntitlement `json:"entitlements"`
	CloudCompetencies []string                   `json:"cloudCompetencies"`
	Products          []Product                  `json:"products"`
}

// LevelEntitlement is one column of the article's table. A nil allowance means none.
type LevelEntitlement struct {
	ProductSupport                    *Allowance `json:"productSupport,omitempty"`
	SignatureCloudWithCloudCompetency *Allowance `json:"signatureCloudWithCloudCompetency,omitempty"`
	SignatureCloudWithOtherCompetency *Allowance `json:"signatureCloudWithOtherCompetency,omitempty"`
}

// Allowance is a number of incidents, or unlimited.
type Allowance struct {
	Unlimited bool `json:"unlimited,omitempty"`
	Incidents int  `json:"incidents,omitempty"`
}

// granted is the pool size an allowance gives: nil = unlimited; ok false = no pool.
func (a *Allowance) granted() (n *int, ok bool) {
	switch {
	case a == nil:
		return nil, false
	case a.Unlimited:
		return nil, true
	case a.Incidents > 0:
		v := a.Incidents
		return &v, true
	}
	return nil, false
}

// exceeds reports whether a gives more than b (unlimited beats any number; nil is none).
func (a *Allowance) exceeds(b *Allowance) bool {
	switch {
	case a == nil:
		return false
	case b == nil:
		return a.Unlimited || a.Incidents > 0
	case b.Unlimited:
		return false
	case a.Unlimited:
		return true
	}
	return a.Incidents > b.Incidents
}

// Product is a catalog entry. On-premises products have a version, release date and
// mainstream-support end; cloud products have neither. The maxLength tags bound the
// text a published rules version may carry (the HTTP layer reads them, see
// handlers/text_rules.go).
type Product struct {
	Name       string     `json:"name" maxLength:"100"`
	Version    string     `json:"version,omitempty" maxLength:"50"`
	Deployment Deployment `json:"deployment" maxLength:"64"`
	ReleasedOn time.Time  `json:"releasedOn,omitzero"`
	// MainstreamEndsOn is the last day of mainstream support (inclusive, UTC).
	MainstreamEndsOn time.Time `json:"mainstreamEndsOn,omitzero"`
	// ContractFree: Signature Cloud requests need no linked contract (R16: Microsoft 365).
	ContractFree bool `json:"contractFree,omitempty"`
	// CSPPlan: CSP partners may file under the Cloud Solution Provider plan (R20: Azure).
	CSPPlan bool `json:"cspPlan,omitempty"`
}

// inMainstream reports whether at falls on or before the mainstream end day.
// Decision (R11): the published end date is the last supported day, so support ends at
// the following midnight UTC.
func (p Product) inMainstream(at time.Time) bool {
	return at.Before(p.MainstreamEndsOn.AddDate(0, 0, 1))
}

//go:embed data/rules-v1.json
var rulesV1JSON []byte

var defaultRules = sync.OnceValue(func() Rules {
	r, err := ParseRules(rulesV1JSON)
	if err != nil {
		panic(fmt.Sprintf("embedded data/rules-v1.json: %v", err)) // a build defect, caught by tests
	}
	return r
})

// DefaultRules is version 1, the article's table, from the embedded data file.
func DefaultRules() Rules { return defaultRules() }

// ParseRules reads and validates a rules document (unknown fields are refused).
func ParseRules(data []byte) (Rules, error) {
	var r Rules
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Rules{}, refusef(CodeValidation, "rules: %v", err)
	}
	if err := r.Validate(); err != nil {
		return Rules{}, err
	}
	return r, nil
}

// Validate checks a rules version is complete and consistent.
func (r Rules) Validate() error {
	if r.Version < 1 {
		return refuse(CodeValidation, "rules: version must be at least 1")
	}
	for _, l := range []Level{LevelActionPack, LevelSilver, LevelGold} {
		if _, ok := r.Entitlements[l]; !ok {
			return refusef(CodeValidation, "rules: entitlements for %s missing", l)
		}
	}
	for l := range r.Entitlements {
		if !l.valid() {
			return refusef(CodeValidation, "rules: unknown level %q", l)
		}
	}
	seen := map[string]bool{}
	for _, p := range r.Products {
		key := strings.ToLower(p.Name + "\x00" + p.Version)
		switch {
		case strings.TrimSpace(p.Name) == "":
			return refuse(CodeValidation, "rules: product without a name")
		case seen[key]:
			return refusef(CodeValidation, "rules: product %s %s listed twice", p.Name, p.Version)
		case p.Deployment == Cloud && p.Version != "":
			return refusef(CodeValidation, "rules: cloud product %s has no versions", p.Name)
		case p.Deployment == OnPremises && (p.Version == "" || p.ReleasedOn.IsZero() || !p.MainstreamEndsOn.After(p.ReleasedOn)):
			return refusef(CodeValidation, "rules: on-premises product %s needs a version, a release date and a later mainstream end", p.Name)
		case p.Deployment != Cloud && p.Deployment != OnPremises:
			return refusef(CodeValidation, "rules: product %s: deployment must be %q or %q", p.Name, OnPremises, Cloud)
		}
		seen[key] = true
	}
	return nil
}

// IsCloudCompetency reports whether a competency is on the cloud list (R8).
func (r Rules) IsCloudCompetency(competency string) bool {
	return slices.ContainsFunc(r.CloudCompetencies, func(c string) bool { return strings.EqualFold(c, competency) })
}

// product finds a catalog entry by name (and version, for on-premises), ignoring case.
func (r Rules) product(name, version string) (Product, bool) {
	for _, p := range r.Products {
		if strings.EqualFold(p.Name, strings.TrimSpace(name)) && (p.Deployment == Cloud || strings.EqualFold(p.Version, strings.TrimSpace(version))) {
			return p, true
		}
	}
	return Product{}, false
}

// cloudProduct finds a cloud product by name.
func (r Rules) cloudProduct(name string) (Product, bool) {
	p, ok := r.product(name, "")
	return p, ok && p.Deployment == Cloud
}

// CheckProductSupport applies R11: only on-premises products, only the current version
// N (by release order among versions released at `at`) and the previous version N-1
// while inside mainstream support at `at`.
func (r Rules) CheckProductSupport(name, version string, at time.Time) (Product, error) {
	paid := "; use paid support or buy a partner support plan (R11)"
	var released []Product
	for _, p := range r.Products {
		if p.Deployment == OnPremises && strings.EqualFold(p.Name, strings.TrimSpace(name)) && !p.ReleasedOn.After(at) {
			released = append(released, p)
		}
	}
	slices.SortFunc(released, func(a, b Product) int { return b.ReleasedOn.Compare(a.ReleasedOn) })
	i := slices.IndexFunc(released, func(p Product) bool { return strings.EqualFold(p.Version, strings.TrimSpace(version)) })
	switch {
	case i == 0:
		return released[0], nil
	case i == 1 && released[1].inMainstream(at):
		return released[1], nil
	case i == 1:
		return Product{}, refusef(CodeProductNotEligible, "%s %s (N-1) left mainstream support on %s%s", released[1].Name, released[1].Version, released[1].MainstreamEndsOn.Format(time.DateOnly), paid)
	case i > 1:
		return Product{}, refusef(CodeProductNotEligible, "%s %s is older than N-1%s", released[i].Name, released[i].Version, paid)
	}
	if p, ok := r.cloudProduct(name); ok {
		return Product{}, refusef(CodeProductNotEligible, "%s is a cloud product: Microsoft Product Support covers recent on-premises products only (R11); use Signature Cloud Support", p.Name)
	}
	return Product{}, refusef(CodeProductNotEligible, "%s %s is not a supported on-premises product%s", name, version, paid)
}

// entitledPools computes a new contract's pools from the memberships active at
// activation (R6, R7, R9): product support by the highest level; Signature Cloud by the
// best allowance any Silver/Gold competency gives (cloud competency: unlimited; other: a
// pack). Action Pack gives no cloud pool.
func (r Rules) entitledPools(active []Membership) (Level, []Pool) {
	var level Level
	var cloud *Allowance
	for _, m := range active {
		if m.Level.rank() > level.rank() {
			level = m.Level
		}
		if m.Competency == "" {
			continue
		}
		e := r.Entitlements[m.Level]
		a := e.SignatureCloudWithOtherCompetency
		if r.IsCloudCompetency(m.Competency) {
			a = e.SignatureCloudWithCloudCompetency
		}
		if a.exceeds(cloud) {
			cloud = a
		}
	}
	var pools []Pool
	if n, ok := r.Entitlements[level].ProductSupport.granted(); ok {
		pools = append(pools, Pool{Kind: PoolProductSupport, Granted: n})
	}
	if n, ok := cloud.granted(); ok {
		pools = append(pools, Pool{Kind: PoolSignatureCloud, Granted: n})
	}
	return level, pools
}
