package domain

import "crypto/rand"

// IDs generates the identifiers a decision needs. It comes from outside so that
// deciding stays deterministic in tests and replay never calls it (IDs are recorded in
// the events). Incident IDs are derived from state (IncidentID), not generated.
type IDs interface {
	NewAccessID() string
	// NewContractID must return an ID for which PartnerOfContract yields mpnID;
	// ContractID builds one.
	NewContractID(mpnID string) string
}

// RandomIDs draws IDs from crypto/rand; it is what the service uses.
type RandomIDs struct{}

// NewAccessID returns "AC-" and 26 random base32 characters (130 bits).
func (RandomIDs) NewAccessID() string { return "AC-" + rand.Text() }

// NewContractID returns "CT-<mpnId>-" and 26 random base32 characters.
func (RandomIDs) NewContractID(mpnID string) string { return ContractID(mpnID, rand.Text()) }
