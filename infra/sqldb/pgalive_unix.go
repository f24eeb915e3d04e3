//go:build unix

package sqldb

import (
	"errors"
	"syscall"
)

// peekEnded reads one byte without consuming it or waiting (Go's sockets are
// non-blocking): EAGAIN means the connection is idle and alive; a byte or EOF means the
// server has spoken or hung up.
func peekEnded(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK)
}
