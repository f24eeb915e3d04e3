package domain

import "iter"

// FoldSeq replays events as they come, one at a time, so a caller reading a long stream
// page by page holds one page of events and the state, never the whole stream. It stops
// at the first error the sequence yields.
func FoldSeq(events iter.Seq2[Event, error]) (Partner, error) {
	return foldSeqFrom(Partner{}, events)
}

// FoldSeqKeeping folds like FoldSeq but keeps, of the incidents, only those in w, with
// their later closures: a view whose memory does not grow with the partner's history,
// for answering one page of incidents with the rest of the state. Everything else is
// whole and the same as FoldSeq's: the counters (IncidentCount too), memberships,
// users, paid plans and contracts, whose pools count their used incidents themselves.
// It is a view to read, never a state to decide on: an incident outside w is not in it.
func FoldSeqKeeping(events iter.Seq2[Event, error], w IncidentWindow) (Partner, error) {
	view := Partner{IncidentLog: IncidentLog{windowed: true, base: max(w.After, 0), keep: max(w.Keep, 0)}}
	return foldSeqFrom(view, events)
}

// foldSeqFrom applies events to s, which the caller owns (built for this fold).
func foldSeqFrom(s Partner, events iter.Seq2[Event, error]) (Partner, error) {
	for e, err := range events {
		if err != nil {
			return Partner{}, err
		}
		s.apply(e, true) // s owns its maps and incident log: no cloning needed
	}
	return s, nil
}
