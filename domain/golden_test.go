package domain

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the sample events")

// goldenSamples holds one fully populated event per registered type. A renamed type or
// field, a changed tag or a dropped field makes TestGoldenEventJSON fail.
func goldenSamples() []Event {
	at := time.Date(2026, 1, 15, 9, 30, 0, 123000000, time.UTC)
	meta := EventMeta{OccurredAt: at, RulesVersion: 1}
	from, until := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	rules := DefaultRules()
	rules.Version, rules.EffectiveFrom = 2, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	return []Event{
		PartnerEnrolled{EventMeta: meta, MPNID: mpn, Name: "Contoso", CSP: true, EnrolledBy: SystemPlatform},
		MembershipGranted{EventMeta: meta, MPNID: mpn, MembershipID: "MS-1", Level: LevelGold, Competency: "Cloud Platform", ValidFrom: from, ValidUntil: until},
		MembershipEnded{EventMeta: meta, MPNID: mpn, MembershipID: "MS-1", EndedBy: SystemPlatform},
		UserRegistered{EventMeta: meta, MPNID: mpn, UserID: uAdmin, AccountType: AccountAAD, MPNLinked: true, CSPOnly: false, Roles: []Role{RoleGlobalAdmin}},
		UserRolesChanged{EventMeta: meta, MPNID: mpn, UserID: uAdmin, Roles: []Role{RoleAdminAgent, RoleGlobalAdmin}, ChangedBy: SystemPlatform},
		BenefitActivated{EventMeta: meta, MPNID: mpn, AccessID: "AC-0001", ContractID: ContractID(mpn, "0002"), ActivatedBy: uAdmin,
			Level: LevelGold, ValidFrom: at, ValidUntil: until, Pools: []PoolGranted{{Kind: PoolProductSupport, Granted: intp(20)}, {Kind: PoolSignatureCloud}}},
		ContractLinked{EventMeta: meta, MPNID: mpn, ContractID: ContractID(mpn, "0002"), UserID: uEngineer, AccountType: AccountMSA, LinkedBy: uAdmin},
		IncidentOpened{EventMeta: meta, MPNID: mpn, IncidentID: IncidentID(mpn, 1), Plan: PlanSignatureCloud, ContractID: ContractID(mpn, "0002"),
			Pool: PoolSignatureCloud, PaidPlanID: "", Product: "Azure", CustomerID: "customer-1", CustomerCountry: "NL", Severity: SeverityModerate,
			Title: "VM does not start", OpenedBy: uAgent},
		IncidentClosed{EventMeta: meta, MPNID: mpn, IncidentID: IncidentID(mpn, 1), ClosedBy: uAgent, Resolution: "restarted"},
		SupportPlanPurchased{EventMeta: meta, MPNID: mpn, PlanID: "PL-1", Plan: PlanPremier, ValidFrom: from, ValidUntil: until, PurchasedBy: uAdmin},
		RulesPublished{EventMeta: EventMeta{OccurredAt: at, RulesVersion: 2}, Rules: rules, PublishedBy: SystemOps},
	}
}

func TestGoldenEventJSON(t *testing.T) {
	samples := goldenSamples()
	var covered []string
	for _, e := range samples {
		typ, data, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		covered = append(covered, typ)
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, data, "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
		path := filepath.Join("testdata", "golden", typ+".json")
		if *update {
			if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run go test ./domain -run Golden -update to create it)", typ, err)
		}
		if !bytes.Equal(pretty.Bytes(), want) {
			t.Errorf("%s: JSON changed; stored events would no longer read back.\ngot:\n%s\nwant:\n%s", typ, pretty.Bytes(), want)
		}
		back, err := Decode(typ, want)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Errorf("%s: golden JSON does not decode to the sample: %v\n%#v", typ, err, back)
		}
	}
	slices.Sort(covered)
	if !slices.Equal(covered, EventTypes()) {
		t.Errorf("golden samples cover %v, registered types are %v", covered, EventTypes())
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, f := range files {
		if typ := strings.TrimSuffix(filepath.Base(f), ".json"); !slices.Contains(covered, typ) && supersededGolden[typ] == nil {
			t.Errorf("golden file %s has no registered event type", f)
		}
	}
}

// supersededGolden holds, per superseded stored type, what its golden file (written by
// the code of that time, never rewritten) must read as today.
var supersededGolden = map[string]func() Event{
	"IncidentOpened.v1": func() Event {
		v2 := goldenSamples()[7].(IncidentOpened)
		v2.CustomerCountry, v2.Severity = "", SeverityDefault
		return v2
	},
}

// TestSupersededEventsReadAsTheCurrentVersion: a stored IncidentOpened.v1 (the golden
// file the v1 code wrote) decodes as IncidentOpened.v2 with the documented defaults:
// severity minimal, no customer country.
func TestSupersededEventsReadAsTheCurrentVersion(t *testing.T) {
	for typ, want := range supersededGolden {
		data, err := os.ReadFile(filepath.Join("testdata", "golden", typ+".json"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(typ, data)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !reflect.DeepEqual(got, want()) {
			t.Errorf("%s reads as\n%#v\nwant\n%#v", typ, got, want())
		}
		if !slices.Contains(StoredTypesOf(got.EventType()), typ) {
			t.Errorf("StoredTypesOf(%s) = %v, misses %s: readers picking by type would skip it", got.EventType(), StoredTypesOf(got.EventType()), typ)
		}
	}
	if _, err := Decode("IncidentOpened.v1", []byte(`{"mpnId":"4711001","severity":"critical"}`)); err == nil {
		t.Error("a v1 event with a v2 field decoded: v1 data must read strictly as v1 wrote it")
	}
}

func TestDecodeRefusesUnknownTypesAndFields(t *testing.T) {
	if _, err := Decode("PartnerRenamed.v1", []byte(`{}`)); err == nil {
		t.Fatal("unknown type decoded")
	}
	if _, err := Decode(PartnerEnrolled{}.EventType(), []byte(`{"mpnId":"12345","nmae":"typo"}`)); err == nil {
		t.Fatal("unknown field decoded")
	}
	if _, err := Decode(PartnerEnrolled{}.EventType(), []byte(`{"mpnId":`)); err == nil {
		t.Fatal("broken JSON decoded")
	}
	if _, _, err := Encode(nil); err == nil {
		t.Fatal("nil event encoded")
	}
}

func TestEveryEventCarriesOccurredAtAndRulesVersion(t *testing.T) {
	for _, e := range goldenSamples() {
		_, data, _ := Encode(e)
		var fields map[string]any
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatal(err)
		}
		if _, ok := fields["occurredAt"]; !ok {
			t.Errorf("%s has no occurredAt", e.EventType())
		}
		if _, ok := fields["rulesVersion"]; !ok {
			t.Errorf("%s has no rulesVersion", e.EventType())
		}
	}
}
