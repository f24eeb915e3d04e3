package esdbprotocolserver

import (
	"context"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// unaryTrailer sets trailers on a unary call, as trailerSetter does on a stream.
type unaryTrailer struct{ ctx context.Context }

func (u unaryTrailer) SetTrailer(md metadata.MD) { _ = grpc.SetTrailer(u.ctx, md) }

// Delete soft-deletes a stream (see eventLog.delete).
func (s *streamsService) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	o := req.GetOptions()
	expected, err := expectedOf(o.GetExpectedStreamRevision())
	if err != nil {
		return nil, err
	}
	last, err := s.remove(ctx, "Delete", o.GetStreamIdentifier(), expected, false)
	if err != nil {
		return nil, err
	}
	return &streams.DeleteResp{PositionOption: &streams.DeleteResp_Position_{Position: &streams.DeleteResp_Position{
		CommitPosition: last.position, PreparePosition: last.position,
	}}}, nil
}

// Tombstone hard-deletes a stream (see eventLog.delete).
func (s *streamsService) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	o := req.GetOptions()
	expected, err := expectedOf(o.GetExpectedStreamRevision())
	if err != nil {
		return nil, err
	}
	last, err := s.remove(ctx, "Tombstone", o.GetStreamIdentifier(), expected, true)
	if err != nil {
		return nil, err
	}
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{Position: &streams.TombstoneResp_Position{
		CommitPosition: last.position, PreparePosition: last.position,
	}}}, nil
}

func (s *streamsService) remove(ctx context.Context, operation string, id *shared.StreamIdentifier, expected int64, hard bool) (*record, error) {
	stream := string(id.GetStreamName())
	if stream == "" {
		return nil, status.Error(codes.InvalidArgument, "stream name is empty")
	}
	out := s.log.delete(stream, expected, hard)
	switch {
	case out.deleted:
		return nil, streamDeletedError(unaryTrailer{ctx}, stream)
	case out.wrongExpectedVersion:
		return nil, wrongExpectedVersionError(unaryTrailer{ctx}, operation, stream, expected, out.currentRevision)
	}
	return out.last, nil
}

// expectedOf reads the expected-revision oneof that Delete and Tombstone share in shape
// (each request has its own generated types).
func expectedOf(v any) (int64, error) {
	switch v := v.(type) {
	case *streams.DeleteReq_Options_Any, *streams.TombstoneReq_Options_Any:
		return expectAny, nil
	case *streams.DeleteReq_Options_NoStream, *streams.TombstoneReq_Options_NoStream:
		return expectNoStream, nil
	case *streams.DeleteReq_Options_StreamExists, *streams.TombstoneReq_Options_StreamExists:
		return expectStreamExists, nil
	case *streams.DeleteReq_Options_Revision:
		return int64(v.Revision), nil
	case *streams.TombstoneReq_Options_Revision:
		return int64(v.Revision), nil
	default:
		return 0, status.Error(codes.InvalidArgument, "expected stream revision is missing")
	}
}
