// Package logline is the process's slog handler, the standard library's text or JSON
// handler, with a fast path for lines of fixed shape such as the access log: Line writes
// the bytes slog's handler would write for the same record, without slog's generic
// machinery (records, values, handle state), in one Write per line as slog does, so a
// line is never held back in a buffer a kill -9 would lose.
package logline

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Format is how lines are written: Text (slog.TextHandler) or JSON (slog.JSONHandler).
type Format string

const (
	Text Format = "text"
	JSON Format = "json"
)

// Handler is a slog.Handler; every record logged through slog goes to the standard
// handler it wraps, and Line writes the same bytes faster.
type Handler struct {
	slog.Handler
	out   *lockedWriter
	json  bool
	level slog.Leveler
}

// New returns a handler writing format lines at level and above to w.
func New(w io.Writer, format Format, level slog.Leveler) *Handler {
	out := &lockedWriter{w: w}
	opts := &slog.HandlerOptions{Level: level}
	h := &Handler{out: out, json: format == JSON, level: level}
	if h.json {
		h.Handler = slog.NewJSONHandler(out, opts)
	} else {
		h.Handler = slog.NewTextHandler(out, opts)
	}
	return h
}

// lockedWriter serializes the fast path's writes with slog's own: slog's handler locks
// only its own writes, and a line must never interleave with another.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// maxPooledLine bounds the buffers kept for reuse, as slog does, so that one huge line
// does not pin its buffer for the life of the process.
const maxPooledLine = 16 << 10

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Line writes the line slog's handler writes for a record of t, level, msg and attrs, in
// one Write. It writes nothing below the handler's level.
func (h *Handler) Line(t time.Time, level slog.Level, msg string, attrs ...Attr) error {
	if level < h.minLevel() {
		return nil
	}
	bp := linePool.Get().(*[]byte)
	b := h.appendLine((*bp)[:0], t, level, msg, attrs)
	_, err := h.out.Write(b)
	if cap(b) <= maxPooledLine {
		*bp = b
		linePool.Put(bp)
	}
	return err
}

func (h *Handler) minLevel() slog.Level {
	if h.level == nil {
		return slog.LevelInfo // as slog's handlers
	}
	return h.level.Level()
}

// Write logs a line of fixed shape to handler: through Line when it is this package's,
// through an slog.Record otherwise (a test's or a library user's handler), with the
// same bytes either way.
func Write(ctx context.Context, handler slog.Handler, t time.Time, level slog.Level, msg string, attrs ...Attr) error {
	if h, ok := handler.(*Handler); ok {
		return h.Line(t, level, msg, attrs...)
	}
	if !handler.Enabled(ctx, level) {
		return nil
	}
	r := slog.NewRecord(t, level, msg, 0)
	for _, a := range attrs {
		r.AddAttrs(a.slogAttr())
	}
	return handler.Handle(ctx, r)
}
