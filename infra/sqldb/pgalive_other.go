//go:build !unix

package sqldb

// peekEnded cannot peek at a socket here; the failed statement tells instead.
func peekEnded(uintptr) bool { return false }
