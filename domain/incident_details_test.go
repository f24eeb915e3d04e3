package domain

import "testing"

// TestIncidentRecordsSeverityAndCustomerCountry: an incident records its severity
// (minimal when none is given) and its customer's ISO country, normalised; a bad
// severity, a country that is no ISO 3166-1 country, or a country without a customer
// is refused and records nothing.
func TestIncidentRecordsSeverityAndCustomerCountry(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.link(uAgent, a)
	forCustomer := func(sev Severity, country string) OpenIncident {
		c := cloud(uAgent, "Azure")
		c.CustomerID, c.Severity, c.CustomerCountry = "customer-fabrikam", sev, country
		return c
	}
	in := oneEvent[IncidentOpened](t, w.must(forCustomer(" Critical ", " nl ")))
	if in.Severity != SeverityCritical || in.CustomerCountry != "NL" {
		t.Fatalf("opened %+v, want severity critical and country NL", in)
	}
	if got, _ := w.s.IncidentLog.ByID(in.IncidentID); got.Severity != SeverityCritical || got.Country != "NL" {
		t.Fatalf("state holds %+v", got)
	}
	in = oneEvent[IncidentOpened](t, w.must(cloud(uAgent, "Azure")))
	if in.Severity != SeverityDefault || in.CustomerCountry != "" {
		t.Fatalf("opened without details: %+v, want severity %s and no country", in, SeverityDefault)
	}
	for _, bad := range []OpenIncident{forCustomer("urgent", ""), forCustomer("", "XX"), forCustomer("", "NLD"),
		forCustomer("", "EU"), func() OpenIncident { c := cloud(uAgent, "Azure"); c.CustomerCountry = "NL"; return c }()} {
		w.refused(bad, CodeValidation)
	}
}
