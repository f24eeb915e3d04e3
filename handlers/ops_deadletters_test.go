package handlers_test

import (
	"reflect"
	"strconv"
	"testing"

	"ledger/handlers"
	"ledger/projections"
)

// The API's bound on a discard reason is the one the projections enforce: a reason the
// API lets through is never refused further down for its length, nor the reverse.
func TestTheDiscardReasonBoundIsTheProjectionsOne(t *testing.T) {
	f, _ := reflect.TypeFor[handlers.DiscardRequest]().FieldByName("Reason")
	if got := f.Tag.Get("maxLength"); got != strconv.Itoa(projections.MaxResolutionReason) {
		t.Fatalf("DiscardRequest.Reason maxLength %s, projections.MaxResolutionReason %d", got, projections.MaxResolutionReason)
	}
}
