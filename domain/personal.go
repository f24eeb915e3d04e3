package domain

import (
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
)

// personalFields names, per stored event type, the JSON members that hold personal
// data: user IDs (e-mail addresses) and the *By actor names, and the CSP customer's
// identifier. The store boundary encrypts them per subject (crypto-shredding); the
// domain never sees ciphertext. Not listed, by decision: partner names (organisations,
// not people), membership, contract and incident IDs, products, the customer's
// country (not identifying alone), and the free-text title and resolution (callers
// must not put personal data there; the API says so).
var personalFields = map[string][]string{
	"PartnerEnrolled.v1":      {"enrolledBy"},
	"MembershipGranted.v1":    nil,
	"MembershipEnded.v1":      {"endedBy"},
	"UserRegistered.v1":       {"userId"},
	"UserRolesChanged.v1":     {"userId", "changedBy"},
	"BenefitActivated.v1":     {"activatedBy"},
	"ContractLinked.v1":       {"userId", "linkedBy"},
	"IncidentOpened.v1":       {"customerId", "openedBy"},
	"IncidentOpened.v2":       {"customerId", "openedBy"},
	"IncidentClosed.v1":       {"closedBy"},
	"SupportPlanPurchased.v1": {"purchasedBy"},
	"RulesPublished.v1":       {"publishedBy"},
}

// PersonalFields lists the members of a stored event type that hold personal data.
func PersonalFields(typ string) []string { return personalFields[typ] }

// IsSystemActorName reports whether an actor name is a system role's (platform, ops),
// which names no person and is never encrypted.
func IsSystemActorName(name string) bool {
	return name == SystemPlatform || name == SystemOps || name == "unknown"
}

// PersonalData seals the personal members of an event's JSON for storage and opens
// them again when the event is read: the store boundary of crypto-shredding. Open gives
// a subject whose key was erased as a stable opaque marker, the same for every event
// of that subject, so folding the log decides and replays alike with or without the
// plaintext. Decide and Evolve never see either form's difference.
type PersonalData interface {
	Seal(typ string, fields []string, data []byte) ([]byte, error)
	Open(typ string, fields []string, data []byte) ([]byte, error)
}

type personalDataBox struct{ p PersonalData }

var (
	personalData   atomic.Pointer[personalDataBox] // the newest installed, read per event
	personalMu     sync.Mutex
	personalActive []*personalDataBox // installed and not yet removed, oldest first
)

// UsePersonalData makes Encode seal and Decode open personal members through p. It is
// process-wide, as the codec is: a serving process installs it once at start-up. The
// returned function removes it again; the newest one still installed then serves
// (processes wired one after another in one test binary close in any order).
func UsePersonalData(p PersonalData) (remove func()) {
	box := &personalDataBox{p: p}
	personalMu.Lock()
	defer personalMu.Unlock()
	personalActive = append(personalActive, box)
	personalData.Store(box)
	return func() {
		personalMu.Lock()
		defer personalMu.Unlock()
		personalActive = slices.DeleteFunc(personalActive, func(b *personalDataBox) bool { return b == box })
		if n := len(personalActive); n > 0 {
			personalData.Store(personalActive[n-1])
		} else {
			personalData.Store(nil)
		}
	}
}

func currentPersonalData() PersonalData {
	if b := personalData.Load(); b != nil {
		return b.p
	}
	return nil
}

// personalCommandFields are the fields of commands (and of their By actor) that hold
// personal data: user IDs and the CSP customer's identifier, as personalFields has them
// for the events the commands record.
var personalCommandFields = []string{"UserID", "CustomerID"}

// ImpersonalJSON is cmd as JSON without its personal members: what may be kept of a
// command beside its events (an idempotency key's request digest) without an erasure
// leaving anything to confirm a guess of the erased data against.
func ImpersonalJSON(cmd Command) ([]byte, error) {
	raw, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	for _, f := range personalCommandFields {
		delete(fields, f)
		if by, ok := fields["By"].(map[string]any); ok {
			delete(by, f)
		}
	}
	return json.Marshal(fields) // members sorted: the same command, the same bytes
}
