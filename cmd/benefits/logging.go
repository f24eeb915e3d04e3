package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/mattn/go-isatty"

	"ledger/infra/logline"
)

// autoLogFormat is text for a person watching a terminal and JSON for everything that
// collects logs (containers, systemd, files).
func autoLogFormat() string {
	if isatty.IsTerminal(os.Stderr.Fd()) {
		return "text"
	}
	return "json"
}

// newLogger is slog's text or JSON handler with logline's fast path for the access log,
// which writes the same bytes.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	if format == "text" {
		return slog.New(logline.New(w, logline.Text, level))
	}
	return slog.New(logline.New(w, logline.JSON, level))
}
