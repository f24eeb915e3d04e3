package domain

import (
	"fmt"
	"strconv"
	"strings"
)

// RulesStream holds the RuleBook aggregate; its category ("rules") is the part before
// the first dash, as EventStoreDB's by-category projection expects.
const RulesStream = "rules-global"

// PartnerStreamCategory is the category of every partner stream.
const PartnerStreamCategory = "partner"

// PartnerStream names the stream of one partner's benefit aggregate.
func PartnerStream(mpnID string) string { return PartnerStreamCategory + "-" + mpnID }

// MPN IDs are digits only, 5 to 10 of them.
const (
	minMPNIDLen = 5
	maxMPNIDLen = 10
)

// ValidateMPNID refuses anything that is not 5..10 ASCII digits.
func ValidateMPNID(mpnID string) error {
	if !isMPNID(mpnID) {
		return refuse(CodeValidation, fmt.Sprintf("MPN ID %q must be %d to %d digits", mpnID, minMPNIDLen, maxMPNIDLen))
	}
	return nil
}

func isMPNID(s string) bool {
	if len(s) < minMPNIDLen || len(s) > maxMPNIDLen {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Contract and incident IDs carry their partner's MPN ID so that a command naming only
// a contractId or incidentId can be routed to the right stream:
//
//	CT-<mpnId>-<unique>   contract (unique part comes from IDs.NewContractID)
//	IN-<mpnId>-<seq>      incident (seq is the partner's incident counter)
const (
	contractIDPrefix = "CT-"
	incidentIDPrefix = "IN-"
)

// ContractID builds a contract ID for mpnID with the given unique suffix; IDs
// implementations use it so that PartnerOfContract can read the partner back.
func ContractID(mpnID, unique string) string { return contractIDPrefix + mpnID + "-" + unique }

// IncidentID builds the ID of the partner's seq-th incident.
func IncidentID(mpnID string, seq int) string {
	return fmt.Sprintf("%s%s-%d", incidentIDPrefix, mpnID, seq)
}

// IncidentSeq reads the partner's incident counter back out of an incident ID: the
// incident's place in the order the partner's incidents were opened. Only the exact
// form IncidentID writes is read (no sign, no leading zero); it allocates nothing, as
// the command path looks incidents up by it.
func IncidentSeq(incidentID string) (int, bool) {
	mpn, ok := PartnerOfIncident(incidentID)
	if !ok {
		return 0, false
	}
	digits := incidentID[len(incidentIDPrefix)+len(mpn)+1:]
	if digits[0] == '0' || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, false
	}
	seq, err := strconv.Atoi(digits)
	return seq, err == nil
}

// PartnerOfContract reads the MPN ID out of a contract ID.
func PartnerOfContract(contractID string) (mpnID string, ok bool) {
	return partnerOf(contractID, contractIDPrefix)
}

// PartnerOfIncident reads the MPN ID out of an incident ID.
func PartnerOfIncident(incidentID string) (mpnID string, ok bool) {
	return partnerOf(incidentID, incidentIDPrefix)
}

func partnerOf(id, prefix string) (string, bool) {
	rest, found := strings.CutPrefix(id, prefix)
	if !found {
		return "", false
	}
	mpn, unique, found := strings.Cut(rest, "-")
	if !found || unique == "" || !isMPNID(mpn) {
		return "", false
	}
	return mpn, true
}
