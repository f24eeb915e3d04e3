package logline

import (
	"log/slog"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// The functions in this file follow log/slog's handler.go, text_handler.go and
// json_handler.go (Go 1.26) rule for rule, for a record without groups, source or
// ReplaceAttr; identity_test.go and the fuzz test hold them to slog's output.

func (h *Handler) appendLine(b []byte, t time.Time, level slog.Level, msg string, attrs []Attr) []byte {
	if h.json {
		b = append(b, '{')
	}
	sep := ""
	if !t.IsZero() {
		b = h.appendKey(b, sep, slog.TimeKey)
		b = h.appendTime(b, t.Round(0)) // strip monotonic, as slog
		sep = h.attrSep()
	}
	b = h.appendKey(b, sep, slog.LevelKey)
	b = h.appendString(b, level.String())
	b = h.appendKey(b, h.attrSep(), slog.MessageKey)
	b = h.appendString(b, msg)
	for _, a := range attrs {
		b = h.appendKey(b, h.attrSep(), a.key)
		b = h.appendValue(b, a)
	}
	if h.json {
		b = append(b, '}')
	}
	return append(b, '\n')
}

func (h *Handler) attrSep() string {
	if h.json {
		return ","
	}
	return " "
}

func (h *Handler) appendKey(b []byte, sep, key string) []byte {
	b = append(b, sep...)
	b = h.appendString(b, key)
	if h.json {
		return append(b, ':')
	}
	return append(b, '=')
}

func (h *Handler) appendString(b []byte, s string) []byte {
	if h.json {
		b = append(b, '"')
		b = appendEscapedJSONString(b, s)
		return append(b, '"')
	}
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func (h *Handler) appendValue(b []byte, a Attr) []byte {
	switch a.kind {
	case kindInt:
		return strconv.AppendInt(b, a.num, 10)
	case kindFloat:
		if h.json {
			return h.appendJSONFloat(b, a.f)
		}
		return strconv.AppendFloat(b, a.f, 'g', -1, 64)
	default:
		return h.appendString(b, a.str)
	}
}

// appendTime is slog's: RFC 3339 with exactly three fraction digits in text, RFC 3339
// with nanoseconds (trailing zeros trimmed) in JSON.
func (h *Handler) appendTime(b []byte, t time.Time) []byte {
	if h.json {
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...) // drop the 4th digit
}

// appendJSONFloat is encoding/json's float encoding, which slog's JSON handler calls,
// and slog's error text for what JSON cannot hold (NaN, infinities).
func (h *Handler) appendJSONFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return h.appendString(b, "!ERROR:json: unsupported value: "+strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 becomes e-9
		if l := len(b); l-n >= 4 && b[l-4] == 'e' && b[l-3] == '-' && b[l-2] == '0' {
			b[l-2] = b[l-1]
			b = b[:l-1]
		}
	}
	return b
}

// jsonSafe reports whether an ASCII byte stands for itself inside a JSON string: all
// but the control characters, the double quote and the backslash.
func jsonSafe(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' }

// needsQuoting is the text handler's test: empty, or anything JSON would escape,
// a space, '=', invalid UTF-8, Unicode space or an unprintable rune.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\\' && (c == ' ' || c == '=' || !jsonSafe(c)) {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendEscapedJSONString is slog's JSON string escaping, without HTML escaping:
// invalid UTF-8 becomes \ufffd, U+2028 and U+2029 are escaped.
func appendEscapedJSONString(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, '\\')
			switch c {
			case '\\', '"':
				b = append(b, c)
			case '\n':
				b = append(b, 'n')
			case '\r':
				b = append(b, 'r')
			case '\t':
				b = append(b, 't')
			default:
				b = append(b, 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
