package logline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"ledger/infra/logline"
)

// slogLine is what the standard handler of format writes for the record.
func slogLine(t testing.TB, format logline.Format, at time.Time, level slog.Level, msg string, attrs []slog.Attr) string {
	t.Helper()
	var buf bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	if format == logline.JSON {
		h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	r := slog.NewRecord(at, level, msg, 0)
	r.AddAttrs(attrs...)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// everyLevel lets Line write every level the fuzz test makes (slog's Handle writes
// whatever it is given).
const everyLevel = slog.Level(math.MinInt8)

// fastLine is what Line writes for the record, and how many Write calls it took.
func fastLine(t testing.TB, format logline.Format, at time.Time, level slog.Level, msg string, attrs []logline.Attr) (string, int) {
	t.Helper()
	w := &countingWriter{}
	if err := logline.New(w, format, everyLevel).Line(at, level, msg, attrs...); err != nil {
		t.Fatal(err)
	}
	return w.buf.String(), w.writes
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

func assertSameLine(t testing.TB, at time.Time, level slog.Level, msg string, fast []logline.Attr, slow []slog.Attr) {
	t.Helper()
	for _, format := range []logline.Format{logline.Text, logline.JSON} {
		want := slogLine(t, format, at, level, msg, slow)
		got, writes := fastLine(t, format, at, level, msg, fast)
		if got != want {
			t.Fatalf("%s line differs from slog's\n got: %q\nwant: %q", format, got, want)
		}
		if writes != 1 {
			t.Fatalf("%s line took %d writes, want one (a line is written whole or not at all)", format, writes)
		}
	}
}

func TestLineIsByteIdenticalToSlogHandlersForAccessLogValues(t *testing.T) {
	at := time.Date(2026, 12, 1, 5, 4, 3, 120_000_000, time.FixedZone("X", 3600))
	strs := []string{"", "GET", "/v1/partners/:mpnId/remaining-incidents", "with space", "a=b", `quo"te`,
		`back\slash`, "tab\there", "new\nline", "cr\r", "\x00\x01\x1f\x7f", "ünïcødé", "日本",
		"\xff\xfe invalid", "line\u2028sep\u2029", "nbsp\u00a0", "zero\u200bwidth", "<html>&", "emoji 😀"}
	floats := []float64{0, 0.001, 1.234, 12345.678, 1e-7, 1e-6, 1e20, 1e21, 1.5e300, -0.5,
		math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1)}
	for _, s := range strs {
		assertSameLine(t, at, slog.LevelInfo, s, []logline.Attr{logline.String("path", s), logline.String(s+"k", s)},
			[]slog.Attr{slog.String("path", s), slog.String(s+"k", s)})
	}
	for i, f := range floats {
		assertSameLine(t, at, slog.LevelError, "http request",
			[]logline.Attr{logline.Int("status", 500+i), logline.Float64("latency_ms", f)},
			[]slog.Attr{slog.Int("status", 500+i), slog.Float64("latency_ms", f)})
	}
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelInfo + 2, slog.LevelError + 4} {
		assertSameLine(t, at, level, "m", nil, nil)
	}
	for _, tm := range []time.Time{{}, time.Now(), at.Add(999_999), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} {
		assertSameLine(t, tm, slog.LevelInfo, "m", []logline.Attr{logline.Int("n", -7)}, []slog.Attr{slog.Int("n", -7)})
	}
}

// FuzzLineMatchesSlogHandler holds Line to slog's text and JSON handlers over random
// keys, values, messages, levels and times.
func FuzzLineMatchesSlogHandler(f *testing.F) {
	f.Add("http request", "route", "/v1/x", "a b", int64(200), 1.25, int64(1764565443120000000), int8(0))
	f.Add("", "k=", "\xff\u2028\"", "\\", int64(-1), math.Inf(1), int64(0), int8(8))
	f.Fuzz(func(t *testing.T, msg, key, v1, v2 string, n int64, fl float64, unixNano int64, level int8) {
		if key == "" {
			t.Skip("keys are non-empty (see Attr)")
		}
		at := time.Unix(0, unixNano) // years 1678-2262: inside what RFC 3339 can write
		fast := []logline.Attr{logline.String(key, v1), logline.String("v2", v2), logline.Int("n", int(n)), logline.Float64("f", fl)}
		slow := []slog.Attr{slog.String(key, v1), slog.String("v2", v2), slog.Int("n", int(n)), slog.Float64("f", fl)}
		assertSameLine(t, at, slog.Level(level), msg, fast, slow)
	})
}

func TestLineWritesNothingBelowTheLevel(t *testing.T) {
	w := &countingWriter{}
	h := logline.New(w, logline.JSON, slog.LevelWarn)
	if err := h.Line(time.Now(), slog.LevelInfo, "http request", logline.String("path", "/")); err != nil {
		t.Fatal(err)
	}
	if w.writes != 0 {
		t.Fatalf("an info line at level warn wrote %q", w.buf.String())
	}
	if allocs := testing.AllocsPerRun(100, func() {
		_ = h.Line(time.Now(), slog.LevelInfo, "http request", logline.String("path", "/"))
	}); allocs != 0 {
		t.Fatalf("a filtered line cost %v allocations, want none", allocs)
	}
}

// TestWriteGivesTheSameLineThroughAnyHandler: a handler that is not this package's
// (a test's, a library user's) gets the record through slog, with the same bytes.
func TestWriteGivesTheSameLineThroughAnyHandler(t *testing.T) {
	at := time.Date(2026, 12, 1, 5, 4, 3, 0, time.UTC)
	attrs := []logline.Attr{logline.String("path", "a b"), logline.Int("status", 200), logline.Float64("latency_ms", 0.25)}
	for _, format := range []logline.Format{logline.Text, logline.JSON} {
		var fast, std bytes.Buffer
		var plain slog.Handler = slog.NewTextHandler(&std, nil)
		if format == logline.JSON {
			plain = slog.NewJSONHandler(&std, nil)
		}
		for _, h := range []struct {
			h slog.Handler
			w *bytes.Buffer
		}{{logline.New(&fast, format, slog.LevelInfo), &fast}, {plain, &std}} {
			if err := logline.Write(context.Background(), h.h, at, slog.LevelInfo, "http request", attrs...); err != nil {
				t.Fatal(err)
			}
			if err := logline.Write(context.Background(), h.h, at, slog.LevelDebug, "filtered", attrs...); err != nil {
				t.Fatal(err)
			}
		}
		if fast.String() != std.String() || fast.Len() == 0 {
			t.Fatalf("%s: fast %q, through slog %q", format, fast.String(), std.String())
		}
	}
}

// TestConcurrentLinesAndSlogRecordsAreWrittenWhole: the fast path and slog's own records
// share one writer (stderr in production, here a bytes.Buffer that is not safe for
// concurrent use); every line arrives whole, none interleaved (run with -race).
func TestConcurrentLinesAndSlogRecordsAreWrittenWhole(t *testing.T) {
	var out bytes.Buffer
	h := logline.New(&out, logline.JSON, slog.LevelInfo)
	logger := slog.New(h)
	const each = 200
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range each {
				if g%2 == 0 {
					_ = h.Line(time.Now(), slog.LevelInfo, "http request", logline.Int("g", g), logline.Int("i", i))
				} else {
					logger.Info("other", "g", g, "i", i)
				}
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4*each {
		t.Fatalf("%d lines, want %d", len(lines), 4*each)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %q is not one whole JSON record: %v", l, err)
		}
	}
}
