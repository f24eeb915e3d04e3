package natsbus

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
)

// lockedBuffer is a log destination the server's goroutines may write to at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(l.b.Bytes()) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// Issue 12: at info level the embedded server says once that it is up, not its banner
// of a dozen lines, and nothing when it stops.
func TestEmbeddedNATSLogsOneLineAtInfo(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e, err := StartEmbedded(context.Background(), EmbeddedOptions{StoreDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.Shutdown()
	lines := logs.lines(t)
	if len(lines) != 1 || lines[0]["msg"] != "embedded NATS server ready" || lines[0]["url"] != e.ClientURL() {
		t.Fatalf("info log of a start and stop: %v, want the one ready line", lines)
	}
}
