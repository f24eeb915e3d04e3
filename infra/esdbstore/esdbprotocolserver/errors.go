package esdbprotocolserver

import (
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The node's refusals (RpcExceptions.cs): a gRPC status plus trailers whose "exception"
// key the clients match on (the v4 Go client turns "stream-deleted" into
// esdb.ErrorCodeStreamDeleted).
const (
	exceptionKey               = "exception"
	exceptionStreamDeleted     = "stream-deleted"
	exceptionWrongExpected     = "wrong-expected-version"
	exceptionMaxAppendExceeded = "maximum-append-size-exceeded"
)

// maxAppendSize is the node's default MaxAppendSize (1 MiB): the sum over an append's
// events of data, metadata and twice the event type's UTF-16 length (Event.SizeOnDisk).
const maxAppendSize = 1024 * 1024

type trailerSetter interface{ SetTrailer(metadata.MD) }

func streamDeletedError(srv trailerSetter, stream string) error {
	srv.SetTrailer(metadata.Pairs(exceptionKey, exceptionStreamDeleted, "stream-name", stream))
	return status.Error(codes.FailedPrecondition, fmt.Sprintf("Event stream '%s' is deleted.", stream))
}

func maxAppendSizeError(srv trailerSetter) error {
	srv.SetTrailer(metadata.Pairs(exceptionKey, exceptionMaxAppendExceeded, "maximum-append-size", strconv.Itoa(maxAppendSize)))
	return status.Error(codes.InvalidArgument, fmt.Sprintf("Maximum Append Size of %d Exceeded.", maxAppendSize))
}

func wrongExpectedVersionError(srv trailerSetter, operation, stream string, expected, actual int64) error {
	srv.SetTrailer(metadata.Pairs(exceptionKey, exceptionWrongExpected, "stream-name", stream,
		"expected-version", strconv.FormatInt(expected, 10), "actual-version", strconv.FormatInt(actual, 10)))
	return status.Error(codes.FailedPrecondition, fmt.Sprintf(
		"%s failed due to WrongExpectedVersion. Stream: %s, Expected version: %d, Actual version: %d", operation, stream, expected, actual))
}
