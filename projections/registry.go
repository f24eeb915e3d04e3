package projections

// All lists every read model of the ledger, for the runner and for rebuilds.
func All() []Projection {
	return []Projection{
		RemainingIncidentsProjection{},
		LinkedAccountsProjection{},
		SupportPlansProjection{},
		IncidentsProjection{},
		BenefitsOverviewProjection{},
	}
}

// ByName finds a read model of All by its name.
func ByName(name string) (Projection, bool) {
	for _, p := range All() {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}
