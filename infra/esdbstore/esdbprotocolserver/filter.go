package esdbprotocolserver

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// filter is a server-side $all filter on event type or stream name, by regex or prefixes.
type filter struct {
	onEventType bool
	regex       *regexp.Regexp
	prefixes    []string
	// checkpointEvery is how many scanned events (matching or not) pass between
	// checkpoints: the window times the client's checkpoint-interval multiplier.
	checkpointEvery int
}

// defaultSearchWindow is the server's window when the client asks for "count".
const defaultSearchWindow = 32

func filterFromWire(o *streams.ReadReq_Options) (*filter, error) {
	w := o.GetFilter()
	if w == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	switch v := w.GetFilter().(type) {
	case *streams.ReadReq_Options_FilterOptions_EventType:
		f.onEventType, expr = true, v.EventType
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = v.StreamIdentifier
	default:
		return nil, status.Error(codes.InvalidArgument, "filter needs an event type or stream expression")
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("filter regex: %v", err))
		}
		f.regex = re
	}
	f.prefixes = expr.GetPrefix()
	window := defaultSearchWindow
	if m, ok := w.GetWindow().(*streams.ReadReq_Options_FilterOptions_Max); ok && m.Max > 0 {
		window = int(m.Max)
	}
	f.checkpointEvery = window * max(1, int(w.GetCheckpointIntervalMultiplier()))
	return f, nil
}

func (f *filter) matches(r *record) bool {
	if f == nil {
		return true
	}
	subject := r.stream
	if f.onEventType {
		subject = r.eventType
	}
	if f.regex != nil {
		return f.regex.MatchString(subject)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}
