package domain

import (
	"errors"
	"strings"
	"testing"
)

func TestStreamNamesFollowCategories(t *testing.T) {
	if got := PartnerStream("12345"); got != "partner-12345" {
		t.Fatalf("PartnerStream = %q", got)
	}
	// EventStoreDB's by-category projection takes the part before the first dash.
	for stream, category := range map[string]string{PartnerStream("12345"): "partner", RulesStream: "rules"} {
		if c, _, _ := strings.Cut(stream, "-"); c != category {
			t.Errorf("%s: category %s, want %s", stream, c, category)
		}
	}
	if (OpenIncident{MPNID: "12345"}).Stream() != "partner-12345" || (PublishRules{}).Stream() != RulesStream {
		t.Fatal("commands name the wrong stream")
	}
}

func TestIDsRevealTheirPartner(t *testing.T) {
	for _, tc := range []struct {
		id   string
		of   func(string) (string, bool)
		want string
	}{
		{ContractID("12345", "X7"), PartnerOfContract, "12345"},
		{IncidentID("1234567890", 42), PartnerOfIncident, "1234567890"},
		{RandomIDs{}.NewContractID("55555"), PartnerOfContract, "55555"},
		{"CT-12345", PartnerOfContract, ""},         // no unique part
		{"CT-12a45-1", PartnerOfContract, ""},       // not digits
		{"CT-1234-1", PartnerOfContract, ""},        // too short
		{"CT-12345678901-1", PartnerOfContract, ""}, // too long
		{"IN-12345-1", PartnerOfContract, ""},       // an incident is not a contract
		{"CT-12345-1", PartnerOfIncident, ""},
		{"", PartnerOfIncident, ""},
	} {
		got, ok := tc.of(tc.id)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%q: got %q %v, want %q", tc.id, got, ok, tc.want)
		}
	}
	a, b := RandomIDs{}.NewAccessID(), RandomIDs{}.NewAccessID()
	if a == b || !strings.HasPrefix(a, "AC-") {
		t.Fatalf("access IDs %q %q", a, b)
	}
}

func TestMPNIDValidation(t *testing.T) {
	for id, ok := range map[string]bool{"12345": true, "1234567890": true, "1234": false, "12345678901": false, "12 45": false, "": false, "١٢٣٤٥": false} {
		err := ValidateMPNID(id)
		if (err == nil) != ok {
			t.Errorf("%q: %v", id, err)
		}
		if err != nil && !errors.Is(err, &Error{Code: CodeValidation}) {
			t.Errorf("%q: want validation code, got %v", id, err)
		}
	}
}

type brokenIDs struct{}

func (brokenIDs) NewAccessID() string             { return "AC-1" }
func (brokenIDs) NewContractID(mpn string) string { return "CT-99999-1" } // wrong partner

func TestBrokenIDSourceIsAProgrammingErrorNotARefusal(t *testing.T) {
	w := newPartner(t, partnerOpts{memberships: []GrantMembership{grant(LevelGold, "Security")}})
	evs, err := Decide(w.s, ActivateBenefit{MPNID: mpn, By: as(uAdmin)}, w.rules, w.now, brokenIDs{})
	var de *Error
	if err == nil || errors.As(err, &de) || evs != nil {
		t.Fatalf("want a plain error, got %v %v", evs, err)
	}
	if _, err := Decide(w.s, ActivateBenefit{MPNID: mpn, By: as(uAdmin)}, w.rules, w.now, nil); err == nil {
		t.Fatal("nil ID source accepted")
	}
	if _, err := Decide(w.s, PublishRules{By: ops}, w.rules, w.now, nil); err == nil {
		t.Fatal("PublishRules decided as a partner command")
	}
}

func TestFoldAsOfGivesThePastState(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.link(uMember, a)
	w.now = t0.Add(48 * 3600e9)
	w.must(cloud(uMember, "Azure"))
	past := FoldAsOf(w.events, t0)
	if len(past.Incidents()) != 0 || !past.IsLinked(a.ContractID, uMember) {
		t.Fatalf("as of t0: %d incidents", len(past.Incidents()))
	}
	if len(Fold(w.events).Incidents()) != 1 {
		t.Fatal("full fold lost the incident")
	}
}
