package sqldb

import (
	"context"
	"database/sql/driver"
	"syscall"

	"github.com/uptrace/bun/driver/pgdriver"
)

// dropIfEndedByServer runs before database/sql hands a pooled PostgreSQL connection
// out again. A connection the server ended while it sat idle (pg_terminate_backend, a
// restart) has the server's goodbye or EOF waiting in its socket; pgdriver would only
// notice when the next statement failed, failing that statement's caller although a
// fresh connection would have worked. ErrBadConn makes database/sql open one instead.
func dropIfEndedByServer(_ context.Context, cn *pgdriver.Conn) error {
	if endedByServer(cn.Conn()) {
		return driver.ErrBadConn
	}
	return nil
}

// endedByServer peeks at the socket without waiting: an idle connection has nothing to
// read unless the server has closed it or said goodbye. Connections that do not expose
// their socket (TLS) are not checked.
func endedByServer(nc any) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ended := false
	err = raw.Read(func(fd uintptr) bool {
		ended = peekEnded(fd)
		return true // never wait for readiness: the answer is now or never
	})
	return ended || err != nil
}
