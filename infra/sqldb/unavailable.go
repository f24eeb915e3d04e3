package sqldb

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/uptrace/bun/driver/pgdriver"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unavailable tells whether err says the database could not do the work rather than
// that the statement was wrong: the disk is full, the write lock stayed taken past the
// busy timeout, the connection was lost or the server refused it. Such a failure is
// not the request's fault and may pass; a constraint violation or a syntax error is
// neither and is not reported here. This is the one place that reads driver codes.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return sqliteUnavailable[se.Code()&0xff] // the primary code of an extended one
	}
	var pe pgdriver.Error
	if errors.As(err, &pe) {
		return postgresUnavailable(pe)
	}
	return connectionLost(err)
}

// sqliteUnavailable are the primary result codes (sqlite.org/rescode.html) that mean
// the file or its lock, not the statement, is the problem. CORRUPT and NOTADB are not
// here: they need an operator, not a retry.
var sqliteUnavailable = map[int]bool{
	sqlite3.SQLITE_BUSY:     true, // the write lock stayed taken past busy_timeout
	sqlite3.SQLITE_LOCKED:   true,
	sqlite3.SQLITE_NOMEM:    true,
	sqlite3.SQLITE_READONLY: true, // the file or its directory became read-only
	sqlite3.SQLITE_IOERR:    true,
	sqlite3.SQLITE_FULL:     true, // disk full, or max_page_count reached
	sqlite3.SQLITE_CANTOPEN: true,
	sqlite3.SQLITE_PROTOCOL: true,
}

// postgresUnavailable: a FATAL error ends the session (pg_terminate_backend, a server
// shutting down); the SQLSTATE classes are those of the server's resources and of the
// connection (postgresql.org/docs/current/errcodes-appendix.html).
func postgresUnavailable(e pgdriver.Error) bool {
	switch e.Field('V') {
	case "FATAL", "PANIC":
		return true
	}
	// Classes 08 (connection exception), 53 (insufficient resources: disk full, out of
	// memory, too many connections) and 58 (system error: I/O); 57P01-57P03 (admin or
	// crash shutdown, cannot connect now); 55P03 (lock not available: lock_timeout).
	code := e.Field('C')
	switch code[:min(2, len(code))] {
	case "08", "53", "58":
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", "55P03":
		return true
	}
	return false
}

// connectionLost: the network under a PostgreSQL connection failed, or database/sql
// gave the connection up.
func connectionLost(err error) bool {
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne)
}

// ConstraintViolation tells whether err is SQLite's refusal of a row that breaks a
// constraint (a UNIQUE index, NOT NULL): the statement was wrong for what the table
// holds, not the database unable to work.
func ConstraintViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}
