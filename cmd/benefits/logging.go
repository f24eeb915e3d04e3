package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/mattn/go-isatty"
)

// autoLogFormat is text for a person watching a terminal and JSON for everything that
// collects logs (containers, systemd, files).
func autoLogFormat() string {
	if isatty.IsTerminal(os.Stderr.Fd()) {
		return "text"
	}
	return "json"
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
