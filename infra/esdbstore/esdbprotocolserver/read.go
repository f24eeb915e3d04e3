package esdbprotocolserver

import (
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Read serves the four shapes of ReadReq: stream or $all, as a bounded read (count) or
// as a catch-up subscription.
func (s *streamsService) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "read options are missing")
	}
	f, err := filterFromWire(o)
	if err != nil {
		return err
	}
	asString := o.GetUuidOption().GetString_() != nil
	_, subscription := o.GetCountOption().(*streams.ReadReq_Options_Subscription)
	backwards := o.GetReadDirection() == streams.ReadReq_Options_Backwards
	if subscription && backwards {
		return status.Error(codes.InvalidArgument, "subscriptions only read forwards")
	}
	switch {
	case o.GetStream() != nil && subscription:
		return s.subscribeToStream(o.GetStream(), asString, srv)
	case o.GetStream() != nil:
		return s.readStream(o.GetStream(), backwards, o.GetCount(), asString, srv)
	case o.GetAll() != nil && subscription:
		return s.subscribeToAll(o.GetAll(), f, asString, srv)
	case o.GetAll() != nil:
		return s.readAll(o.GetAll(), backwards, o.GetCount(), f, asString, srv)
	default:
		return status.Error(codes.InvalidArgument, "read needs a stream or $all")
	}
}

// readStream serves what the stream's metadata leaves visible: a tombstoned stream
// answers StreamDeleted, a soft-deleted or never-written one StreamNotFound, and a
// truncated one ($tb, $maxCount, $maxAge) only its later events, with no error.
func (s *streamsService) readStream(o *streams.ReadReq_Options_StreamOptions, backwards bool, count uint64, asString bool, srv streams.Streams_ReadServer) error {
	name := string(o.GetStreamIdentifier().GetStreamName())
	visible, deleted, found := s.log.readable(name)
	switch {
	case deleted:
		return streamDeletedError(srv, name)
	case !found:
		return srv.Send(streamNotFound(name))
	}
	var from uint64
	switch v := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		from = v.Revision
	case *streams.ReadReq_Options_StreamOptions_End:
		from = math.MaxUint64
	}
	var selected []*record
	if len(visible) > 0 {
		first, last := visible[0].revision, visible[len(visible)-1].revision
		if backwards && from >= first {
			for i := int64(min(from, last) - first); i >= 0 && uint64(len(selected)) < count; i-- {
				selected = append(selected, visible[i])
			}
		} else if !backwards && from <= last {
			start := max(from, first) - first
			selected = visible[start:min(uint64(len(visible)), start+min(count, uint64(len(visible))))]
		}
	}
	return sendAll(srv, selected, nil, asString)
}

// readAll reads $all from a position: forwards inclusive of an event at that position,
// backwards from the events before it, as the server does.
func (s *streamsService) readAll(o *streams.ReadReq_Options_AllOptions, backwards bool, count uint64, f *filter, asString bool, srv streams.Streams_ReadServer) error {
	records, _ := s.log.all()
	start := 0
	switch v := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		start = indexAtOrAfter(records, v.Position.GetCommitPosition())
	case *streams.ReadReq_Options_AllOptions_End:
		start = len(records)
	}
	var sent uint64
	step, i := 1, start
	if backwards {
		step, i = -1, start-1
	}
	for ; i >= 0 && i < len(records) && sent < count; i += step {
		if !f.matches(records[i]) {
			continue
		}
		if err := srv.Send(readEvent(records[i], asString)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

func sendAll(srv streams.Streams_ReadServer, records []*record, f *filter, asString bool) error {
	for _, r := range records {
		if !f.matches(r) {
			continue
		}
		if err := srv.Send(readEvent(r, asString)); err != nil {
			return err
		}
	}
	return nil
}
