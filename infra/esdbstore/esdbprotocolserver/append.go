package esdbprotocolserver

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf16"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Append reads the options message, then the proposed events until the client closes its
// side, and answers once. A wrong expected version is a normal reply, not a gRPC error;
// a deleted stream and an append over maxAppendSize are gRPC errors. The node refuses
// the size as soon as the running total passes it; this server reads the whole request
// first, so that the client always gets the status rather than, at times, an EOF on a
// later send.
func (s *streamsService) Append(srv streams.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	options := first.GetOptions()
	if options == nil {
		return status.Error(codes.InvalidArgument, "first append message must carry options")
	}
	stream := string(options.GetStreamIdentifier().GetStreamName())
	if stream == "" {
		return status.Error(codes.InvalidArgument, "stream name is empty")
	}
	expected, err := expectedFromWire(options)
	if err != nil {
		return err
	}
	var events []proposal
	size := 0
	for {
		msg, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		p, err := proposalFromWire(msg.GetProposedMessage())
		if err != nil {
			return err
		}
		size += len(p.data) + len(p.customMetadata) + 2*utf16Len(p.eventType)
		events = append(events, p)
	}
	if size > maxAppendSize {
		return maxAppendSizeError(srv)
	}
	out := s.log.append(stream, expected, events)
	if out.deleted {
		return streamDeletedError(srv, stream)
	}
	return srv.SendAndClose(appendReply(expected, out))
}

func expectedFromWire(o *streams.AppendReq_Options) (int64, error) {
	switch v := o.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		return expectAny, nil
	case *streams.AppendReq_Options_NoStream:
		return expectNoStream, nil
	case *streams.AppendReq_Options_StreamExists:
		return expectStreamExists, nil
	case *streams.AppendReq_Options_Revision:
		return int64(v.Revision), nil
	default:
		return 0, status.Error(codes.InvalidArgument, "expected stream revision is missing")
	}
}

func proposalFromWire(m *streams.AppendReq_ProposedMessage) (proposal, error) {
	if m == nil {
		return proposal{}, status.Error(codes.InvalidArgument, "append message after options must be a proposed message")
	}
	id, err := uuidFromWire(m.GetId())
	if err != nil {
		return proposal{}, status.Error(codes.InvalidArgument, fmt.Sprintf("invalid event id: %v", err))
	}
	for _, key := range []string{metadataType, metadataContentType} {
		if _, ok := m.GetMetadata()[key]; !ok {
			return proposal{}, status.Error(codes.InvalidArgument, fmt.Sprintf("Required metadata property '%s' is missing", key))
		}
	}
	return proposal{
		id: id, eventType: m.GetMetadata()[metadataType], contentType: m.GetMetadata()[metadataContentType],
		data: m.GetData(), customMetadata: m.GetCustomMetadata(),
	}, nil
}

func appendReply(expected int64, out appendOutcome) *streams.AppendResp {
	if out.wrongExpectedVersion {
		return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(expected, out.currentRevision),
		}}
	}
	success := &streams.AppendResp_Success{}
	if out.currentRevision < 0 {
		success.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		success.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(out.currentRevision)}
	}
	if out.last == nil {
		success.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		success.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: out.last.position, PreparePosition: out.last.position,
		}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: success}}
}

// wrongExpectedVersion fills both the current fields and the 20.6.0 ones, as the server does.
func wrongExpectedVersion(expected, current int64) *streams.AppendResp_WrongExpectedVersion {
	w := &streams.AppendResp_WrongExpectedVersion{}
	if current < 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(current)}
	}
	switch expected {
	case expectAny:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case expectStreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	case expectNoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(expected)}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: uint64(expected)}
	}
	return w
}

// utf16Len is the length of s in UTF-16 code units, .NET's string.Length.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
