package domain

import (
	"errors"
	"reflect"
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

// An incident's number is read back only from an ID IncidentID made: the paged
// incident lists are keyed by it.
func TestIncidentSeqReadsTheNumberBackOnlyFromIncidentIDs(t *testing.T) {
	for _, seq := range []int{1, 9, 10, 50000} {
		if got, ok := IncidentSeq(IncidentID("12345", seq)); !ok || got != seq {
			t.Errorf("IncidentSeq(IncidentID(12345, %d)) = %d, %v", seq, got, ok)
		}
	}
	for _, id := range []string{"IN-12345-0", "IN-12345-07", "IN-12345-+7", "IN-12345-x", "IN-12345-1-2", "CT-12345-7", "IN-12-7", ""} {
		if seq, ok := IncidentSeq(id); ok {
			t.Errorf("IncidentSeq(%q) = %d, want not an incident ID", id, seq)
		}
	}
}

// Folding events one at a time as they are read gives the state folding them all at
// once gives, and stops at the first read error.
func TestFoldSeqFoldsLikeFoldAndStopsAtAnError(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.link(uMember, a)
	w.must(cloud(uMember, "Azure"))
	one := func(yield func(Event, error) bool) {
		for _, e := range w.events {
			if !yield(e, nil) {
				return
			}
		}
	}
	got, err := FoldSeq(one)
	if err != nil || !reflect.DeepEqual(got, Fold(w.events)) {
		t.Fatalf("FoldSeq: %+v, %v; want %+v", got, err, Fold(w.events))
	}
	broken := errors.New("read failed")
	if _, err := FoldSeq(func(yield func(Event, error) bool) { yield(nil, broken) }); !errors.Is(err, broken) {
		t.Fatalf("a read error: %v", err)
	}
}
