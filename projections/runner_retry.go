package projections

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
)

// isTransient tells an error worth retrying as is: the database busy or unreachable, a
// serialisation conflict, a concurrent checkpoint move. Matching is by interface and
// SQLSTATE rather than by driver type, so the projections package imports no driver.
func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errCheckpointMoved) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var sqlite interface{ Code() int } // modernc.org/sqlite
	if errors.As(err, &sqlite) {
		switch sqlite.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
	}
	var pg interface{ Field(byte) string } // pgdriver
	if errors.As(err, &pg) {
		state := pg.Field('C')
		switch {
		case state == "40001", state == "40P01", state == "55P03", // serialization, deadlock, lock
			strings.HasPrefix(state, "08"), strings.HasPrefix(state, "53"), strings.HasPrefix(state, "57P"):
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY")
}
