// Package pgtest gives tests a fresh, empty PostgreSQL database on a throwaway server.
//
// The server is started once per test binary, on first use: initdb into a temp dir, a
// free loopback port, as the OS user "postgres" when the tests run as root (PostgreSQL
// refuses to run as root). Set BENEFITS_TEST_PG_DSN to an existing server's admin DSN to
// use that server instead; each test still gets its own database.
//
// No postgres outlives `go test`:
//   - a package's TestMain calls pgtest.Main(m), which stops the server and removes its
//     directory after the tests;
//   - should the test binary die before that (a -timeout panic, a kill), postgres gets
//     SIGQUIT from the kernel as a parent-death signal, and the next start removes
//     directories whose test binary is gone.
//
// A machine without the server binaries gets a failure that names the package to install.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// EnvDSN names the variable that points the tests at an existing server.
const EnvDSN = "BENEFITS_TEST_PG_DSN"

var (
	startOnce sync.Once
	shared    *server // nil when EnvDSN is used
	adminDSN  string
	startErr  error
)

// NewDatabase returns the DSN of a new, empty database; it is dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	startOnce.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			adminDSN = dsn
			return
		}
		shared, startErr = start(context.Background())
		if startErr == nil {
			adminDSN = shared.dsn("postgres")
		}
	})
	if startErr != nil {
		t.Fatalf("throwaway PostgreSQL: %v", startErr)
	}
	name := "t_" + randomHex(6)
	admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(adminDSN)))
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("throwaway PostgreSQL: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a test that failed half-way may still hold connections.
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("throwaway PostgreSQL: drop database %s: %v", name, err)
		}
	})
	return withDatabase(adminDSN, name)
}

// Main runs the tests and then stops the throwaway server; call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop shuts the throwaway server down and removes its directory (a no-op when none
// was started).
func Stop() {
	if shared != nil {
		shared.stop()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

var errNoServer = errors.New("PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin: " +
	"install Debian package postgresql (apt-get install postgresql), or set " + EnvDSN + " to an existing server")

// DataDir is the throwaway server's data directory (its tables, indexes and WAL), for
// tests that grep what PostgreSQL keeps on disk; "" when no throwaway server runs
// (none started yet, or EnvDSN points at another server).
func DataDir() string {
	if shared == nil {
		return ""
	}
	return shared.dataDir()
}
