package domain

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestEveryStoredEventTypeDecidesItsPersonalData: each type that can be in a store
// says which members hold personal data (possibly none), and each one named is a
// string member of that type's JSON, so a new event type or a renamed member cannot
// slip personal data past crypto-shredding unnoticed.
func TestEveryStoredEventTypeDecidesItsPersonalData(t *testing.T) {
	for typ := range decoders {
		fields, ok := personalFields[typ]
		if !ok {
			t.Errorf("%s: no decision on its personal data in personalFields", typ)
			continue
		}
		var sample Event
		for _, e := range goldenSamples() {
			if slices.Contains(StoredTypesOf(e.EventType()), typ) {
				sample = e
			}
		}
		data, _ := json.Marshal(sample)
		var members map[string]any
		if err := json.Unmarshal(data, &members); err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			if _, isString := members[f].(string); !isString {
				t.Errorf("%s: personal member %q is not a string member of its JSON", typ, f)
			}
		}
	}
	for typ := range personalFields {
		if _, ok := decoders[typ]; !ok {
			t.Errorf("personalFields names %s, which is no stored event type", typ)
		}
	}
}

// A command's impersonal JSON (what an idempotency key's digest covers) keeps no user
// ID or customer ID, the actor's included, and tells commands apart by the rest.
func TestImpersonalJSONKeepsNoPersonalData(t *testing.T) {
	const person, customer = "alice@example.com", "customer-4711"
	by := Actor{UserID: person, SystemRoles: []string{SystemPlatform}}
	for _, cmd := range []Command{
		OpenIncident{MPNID: "4711", By: by, Plan: PlanProductSupport, Product: "SQL Server", CustomerID: customer, Title: "slow"},
		RegisterUser{MPNID: "4711", By: by, UserID: person, AccountType: AccountAAD},
		ChangeUserRoles{MPNID: "4711", By: by, UserID: person},
		LinkContract{MPNID: "4711", By: by, UserID: person, ContractID: "CT-1"},
		CloseIncident{MPNID: "4711", By: by, IncidentID: "IN-4711-1"},
	} {
		got, err := ImpersonalJSON(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(got), person) || strings.Contains(string(got), customer) {
			t.Errorf("%s: %s keeps personal data", cmd.CommandName(), got)
		}
	}
	a, _ := ImpersonalJSON(OpenIncident{MPNID: "4711", By: by, Product: "SQL Server"})
	b, _ := ImpersonalJSON(OpenIncident{MPNID: "4711", By: by, Product: "Exchange Server"})
	if string(a) == string(b) {
		t.Error("two incidents for different products read alike")
	}
}
