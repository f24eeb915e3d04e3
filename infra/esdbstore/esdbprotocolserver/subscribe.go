package esdbprotocolserver

import (
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
)

// subscribeToAll: confirmation, then every event after the start position (exclusive),
// caught_up, then live events; for filtered subscriptions a checkpoint every
// checkpointEvery scanned events. The log is in memory, so the subscription reads the
// log itself instead of a live buffer and never falls behind.
func (s *streamsService) subscribeToAll(o *streams.ReadReq_Options_AllOptions, f *filter, asString bool, srv streams.Streams_ReadServer) error {
	if err := srv.Send(confirmation(uuid.NewString())); err != nil {
		return err
	}
	records, changed := s.log.all()
	next := 0
	switch v := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		next = indexAtOrAfter(records, v.Position.GetCommitPosition()+1)
	case *streams.ReadReq_Options_AllOptions_End:
		next = len(records)
	}
	scanned, sentCaughtUp := 0, false
	for {
		for ; next < len(records); next++ {
			r := records[next]
			if f.matches(r) {
				if err := srv.Send(readEvent(r, asString)); err != nil {
					return err
				}
			}
			if scanned++; f != nil && scanned%f.checkpointEvery == 0 {
				if err := srv.Send(checkpoint(r.position)); err != nil {
					return err
				}
			}
		}
		if !sentCaughtUp {
			if err := srv.Send(caughtUp()); err != nil {
				return err
			}
			sentCaughtUp = true
		}
		select {
		case <-srv.Context().Done():
			return srv.Context().Err()
		case <-changed:
			records, changed = s.log.all()
		}
	}
}

// subscribeToStream: like subscribeToAll for one stream; the start revision is exclusive.
func (s *streamsService) subscribeToStream(o *streams.ReadReq_Options_StreamOptions, asString bool, srv streams.Streams_ReadServer) error {
	name := string(o.GetStreamIdentifier().GetStreamName())
	if err := srv.Send(confirmation(uuid.NewString())); err != nil {
		return err
	}
	events, changed := s.log.streamAndChanges(name)
	next := uint64(0)
	switch v := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		next = v.Revision + 1
	case *streams.ReadReq_Options_StreamOptions_End:
		next = uint64(len(events))
	}
	sentCaughtUp := false
	for {
		for ; next < uint64(len(events)); next++ {
			if err := srv.Send(readEvent(events[next], asString)); err != nil {
				return err
			}
		}
		if !sentCaughtUp {
			if err := srv.Send(caughtUp()); err != nil {
				return err
			}
			sentCaughtUp = true
		}
		select {
		case <-srv.Context().Done():
			return srv.Context().Err()
		case <-changed:
			events, changed = s.log.streamAndChanges(name)
		}
	}
}
