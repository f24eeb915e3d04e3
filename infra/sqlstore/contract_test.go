package sqlstore

import (
	"testing"

	"ledger/infra/eventstore"
	"ledger/infra/eventstore/eventstoretest"
)

func TestContract(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return d.open(t, Options{}) })
		})
	}
}
