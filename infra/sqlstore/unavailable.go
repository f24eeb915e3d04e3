package sqlstore

import (
	"errors"
	"fmt"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
)

// classify marks a failure of the database itself (sqldb.Unavailable: disk full, lock
// held past the busy timeout, connection lost) as eventstore.ErrUnavailable, keeping
// the cause in the chain; any other error is returned as it is.
func classify(err error) error {
	if err != nil && !errors.Is(err, eventstore.ErrUnavailable) && sqldb.Unavailable(err) {
		return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	return err
}
