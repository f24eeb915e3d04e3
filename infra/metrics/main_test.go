package metrics_test

import (
	"testing"

	"ledger/infra/pgtest"
)

// TestMain stops the throwaway PostgreSQL server after the tests.
func TestMain(m *testing.M) { pgtest.Main(m) }
