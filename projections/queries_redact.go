package projections

// Answers as a reader who may not see everything gets them. Who may see what is decided
// in the domain (domain.CanSeeContractIDs, domain.CanReadAccount); these functions only
// carry the decision out on an answer, so the read models keep one query per route.

// WithoutContractIDs is the answer for a reader who may read the partner but not see
// its Contract IDs (R4): the same contracts, windows and pools, without the IDs.
func (r RemainingIncidents) WithoutContractIDs() RemainingIncidents {
	out := RemainingIncidents{Contracts: make([]ContractIncidents, len(r.Contracts))}
	for i, c := range r.Contracts {
		c.ContractID = ""
		out.Contracts[i] = c
	}
	return out
}

// WithoutContractIDs is the answer for a reader who may read the partner but not see
// its Contract IDs (R4): the same incidents, without the contract they drew on.
func (r Incidents) WithoutContractIDs() Incidents {
	out := Incidents{Incidents: make([]Incident, len(r.Incidents)), NextCursor: r.NextCursor}
	for i, in := range r.Incidents {
		in.ContractID = ""
		out.Incidents[i] = in
	}
	return out
}

// PartnerReading is how far a reader may read one partner's part of an answer that
// spans partners.
type PartnerReading struct {
	Read        bool // the partner's part is shown at all
	ContractIDs bool // its Contract IDs are shown (R4)
}

// ForReader keeps the plans of the partners reading admits, and leaves out the Contract
// IDs of those whose IDs the reader may not see (R4, shared accounts).
func (s SupportPlans) ForReader(reading func(mpnID string) PartnerReading) SupportPlans {
	out := SupportPlans{Usable: []SupportPlan{}, Unavailable: []SupportPlan{}}
	for _, list := range [][]SupportPlan{s.Usable, s.Unavailable} {
		for _, p := range list {
			r := reading(p.MPNID)
			if !r.Read {
				continue
			}
			if !r.ContractIDs {
				p.ContractID = ""
			}
			out.add(p)
		}
	}
	return out
}
