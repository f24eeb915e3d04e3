package domain

// IncidentOpenedV1 is IncidentOpened as stored before severities and customer
// countries existed (type name "IncidentOpened.v1"). The domain never writes it; it
// exists so stored v1 events keep decoding strictly, as written.
type IncidentOpenedV1 struct {
	EventMeta
	MPNID      string   `json:"mpnId"`
	IncidentID string   `json:"incidentId"`
	Plan       Plan     `json:"plan"`
	ContractID string   `json:"contractId,omitempty"`
	Pool       PoolKind `json:"pool,omitempty"`
	PaidPlanID string   `json:"paidPlanId,omitempty"`
	Product    string   `json:"product"`
	Version    string   `json:"version,omitempty"`
	CustomerID string   `json:"customerId,omitempty"`
	Title      string   `json:"title,omitempty"`
	OpenedBy   string   `json:"openedBy"`
}

// upcastIncidentOpenedV1 reads a v1 incident as v2. Documented defaults: Severity is
// SeverityDefault (minimal, Microsoft's severity C, which is also what a v2 command
// without a severity records), CustomerCountry is empty (not recorded then; never
// guessed). Pure: the same v1 always gives the same v2.
func upcastIncidentOpenedV1(v1 IncidentOpenedV1) IncidentOpened {
	return IncidentOpened{
		EventMeta: v1.EventMeta, MPNID: v1.MPNID, IncidentID: v1.IncidentID, Plan: v1.Plan,
		ContractID: v1.ContractID, Pool: v1.Pool, PaidPlanID: v1.PaidPlanID, Product: v1.Product,
		Version: v1.Version, CustomerID: v1.CustomerID, CustomerCountry: "", Severity: SeverityDefault,
		Title: v1.Title, OpenedBy: v1.OpenedBy,
	}
}
