package domain

import "slices"

// IncidentLog holds a partner's incidents in the order opened (Seq 1, 2, 3 ...). It is
// the one part of a Partner that grows with history, so it is persistent: a state made
// by Evolve shares every leaf of incidents but the one an event changes, and a change
// copies one leaf, one mid node and the short top list (one pointer per 1,024
// incidents) instead of every incident. That is what lets the command executor keep a
// partner's state and decide on it at a cost that does not grow with the number of
// incidents. The zero value is empty.
//
// A log is of one of three kinds, fixed when its fold begins:
//   - a state's (Fold, FoldSeq): every incident, whole;
//   - a view's (FoldSeqKeeping): the incidents of a window, whole;
//   - a deciding state's (FoldDeciding, what the command executor keeps and
//     snapshots): every incident, open or closed, only as what decisions ask of it
//     (decisionFacts: who opened it, whether it is closed), 16 bytes instead of a few
//     hundred (but an incident of an unusual ID, kept whole). It is never a view:
//     asking it for incidents to show panics (ByID, All), so no answer renders a
//     compacted record.
type IncidentLog struct {
	whole plist[Incident] // the incidents of a state's or a view's log
	// A view's log (FoldSeqKeeping) holds only the incidents numbered base+1 to
	// base+keep: windowed is false in a state's log, which holds every incident from 1.
	windowed   bool
	base, keep int

	deciding bool
	kept     plist[keptIncident] // a deciding log's incidents, every one from 1
	// openers interns the openers of the compacted incidents (a partner's users repeat):
	// shared between states, appended to only when owned, else copied first.
	openers []string
	// mpn is the partner in every compacted incident's ID, IncidentID(mpn, seq): an
	// incident with an ID of another form is kept whole (no event of Decide's has one).
	mpn string
	// wholes counts the incidents a deciding log keeps whole, for SizeEstimate.
	wholes int
}

// keptIncident is an incident of a deciding log: compacted to its opener,
// openers[opener], and whether it is still open; or whole, if its ID is not of the
// usual form (IncidentID(mpn, seq)), so that the facts could not be found by it.
type keptIncident struct {
	whole  *Incident // shared between states: replaced, never modified in place
	opener int32
	open   bool
}

// IncidentWindow is which incidents a view keeps: those numbered After+1 to After+Keep
// (a page of them, and the one after it that tells whether another page follows).
type IncidentWindow struct{ After, Keep int }

// Len is the number of incidents held: every incident ever opened, in a state's log.
func (l IncidentLog) Len() int {
	if l.deciding {
		return l.kept.n
	}
	return l.whole.n
}

// errNotAView is what asking a deciding log for incidents to show panics with: its
// closed incidents are compacted, so an answer rendered from it would be wrong.
const errNotAView = "domain: a deciding state's incidents are not a view (they are compacted); render views from Fold or FoldSeq"

// bySeq is the incident opened seq-th (1-based).
func (l IncidentLog) bySeq(seq int) (Incident, bool) {
	if l.deciding {
		panic(errNotAView)
	}
	if seq <= l.base || seq > l.base+l.whole.n {
		return Incident{}, false
	}
	return *l.whole.at(seq - 1 - l.base), true
}

// ByID finds an incident by its ID (IN-<mpnId>-<seq>).
func (l IncidentLog) ByID(incidentID string) (Incident, bool) {
	if l.deciding {
		panic(errNotAView)
	}
	seq, ok := IncidentSeq(incidentID)
	if !ok {
		return Incident{}, false
	}
	in, ok := l.bySeq(seq)
	if !ok || in.IncidentID != incidentID {
		return Incident{}, false
	}
	return in, true
}

// All lists the incidents held in the order opened; the list is the caller's.
func (l IncidentLog) All() []Incident {
	if l.deciding {
		panic(errNotAView)
	}
	out := make([]Incident, 0, l.whole.n)
	for i := range l.whole.n {
		out = append(out, *l.whole.at(i))
	}
	return out
}

// decisionFacts is what a decision may learn of an incident, from a log of any kind but
// a view's: who opened it and whether it is closed (R22), and whether it exists.
func (l IncidentLog) decisionFacts(incidentID string) (openedBy string, closed, found bool) {
	if !l.deciding {
		in, ok := l.ByID(incidentID)
		return in.OpenedBy, in.Status() == IncidentStatusClosed, ok
	}
	seq, ok := IncidentSeq(incidentID)
	if !ok || seq > l.kept.n {
		return "", false, false
	}
	k := l.kept.at(seq - 1)
	if k.whole != nil {
		return k.whole.OpenedBy, k.whole.Status() == IncidentStatusClosed, k.whole.IncidentID == incidentID
	}
	mpn, _ := PartnerOfIncident(incidentID)
	return l.openers[k.opener], !k.open, mpn == l.mpn
}

// put stores in as incident number in.Seq, which is at most Len()+1 (past the window's
// start in a view's log, whose incidents outside the window are dropped). Unless the
// log is owned by the caller (a fold building a state from scratch), the nodes on the
// way are copied first, so states sharing them stay as they were. A deciding log
// compacts in unless its ID is of another form.
func (l *IncidentLog) put(in Incident, owned bool) {
	if l.deciding {
		i := in.Seq - 1
		if i < 0 || i > l.kept.n {
			return
		}
		if i < l.kept.n && l.kept.at(i).whole != nil {
			l.wholes--
		}
		if l.usualID(in) {
			l.kept.set(i, keptIncident{opener: l.intern(in.OpenedBy, owned), open: in.ClosedAt.IsZero()}, owned)
			return
		}
		whole := in // on the heap here, not in the other kinds of log (in would escape)
		l.kept.set(i, keptIncident{whole: &whole}, owned)
		l.wholes++
		return
	}
	i := in.Seq - 1 - l.base
	if i < 0 || i > l.whole.n || (l.windowed && i >= l.keep) {
		return
	}
	l.whole.set(i, in, owned)
}

// usualID: in's ID is IncidentID(mpn, in.Seq) for the log's partner (the first such ID
// names it), so decisionFacts finds in by its place and partner alone.
func (l *IncidentLog) usualID(in Incident) bool {
	mpn, ok := PartnerOfIncident(in.IncidentID)
	if seq, known := IncidentSeq(in.IncidentID); !ok || !known || seq != in.Seq {
		return false
	}
	if l.mpn == "" {
		l.mpn = mpn
	}
	return mpn == l.mpn
}

// close records e on its incident, if held. A deciding log marks a compacted incident
// closed (a closure without a time leaves it open, as the ClosedAt of a whole one
// says); one closed already stays so (Decide never closes one twice).
func (l *IncidentLog) close(e IncidentClosed, owned bool) {
	if !l.deciding {
		if in, ok := l.ByID(e.IncidentID); ok {
			in.ClosedAt, in.ClosedBy, in.Resolution = e.OccurredAt, e.ClosedBy, e.Resolution
			l.put(in, owned)
		}
		return
	}
	seq, ok := IncidentSeq(e.IncidentID)
	if !ok || seq > l.kept.n {
		return
	}
	k := l.kept.at(seq - 1)
	if k.whole != nil {
		if k.whole.IncidentID == e.IncidentID {
			in := *k.whole
			in.ClosedAt, in.ClosedBy, in.Resolution = e.OccurredAt, e.ClosedBy, e.Resolution
			l.put(in, owned)
		}
		return
	}
	if mpn, _ := PartnerOfIncident(e.IncidentID); k.open && !e.OccurredAt.IsZero() && mpn == l.mpn {
		l.kept.set(seq-1, keptIncident{opener: k.opener}, owned)
	}
}

// intern is the place of userID in openers, added if new. A partner has few users
// beside its incidents, so a scan is as cheap as a map and shares like the log.
func (l *IncidentLog) intern(userID string, owned bool) int32 {
	if i := slices.Index(l.openers, userID); i >= 0 {
		return int32(i)
	}
	if !owned {
		l.openers = slices.Clip(l.openers)
	}
	l.openers = append(l.openers, userID)
	return int32(len(l.openers) - 1)
}
