package domain

import "iter"

// FoldSeq replays events as they come, one at a time, so a caller reading a long stream
// page by page holds one page of events and the state, never the whole stream. It stops
// at the first error the sequence yields.
func FoldSeq(events iter.Seq2[Event, error]) (Partner, error) {
	var s Partner
	for e, err := range events {
		if err != nil {
			return Partner{}, err
		}
		s.apply(e, true) // s owns its maps and incident log: no cloning needed
	}
	return s, nil
}
