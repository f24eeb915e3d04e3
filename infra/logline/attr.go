package logline

import "log/slog"

type kind uint8

const (
	kindString kind = iota
	kindInt
	kindFloat
)

// Attr is a key and a string, integer or float value: the kinds a fixed-shape line
// holds. Keys are expected to be non-empty, as slog elides some attributes with an
// empty key.
type Attr struct {
	key  string
	kind kind
	str  string
	num  int64
	f    float64
}

// String is a string attribute, as slog.String.
func String(key, value string) Attr { return Attr{key: key, kind: kindString, str: value} }

// Int is an integer attribute, as slog.Int.
func Int(key string, value int) Attr { return Attr{key: key, kind: kindInt, num: int64(value)} }

// Float64 is a float attribute, as slog.Float64.
func Float64(key string, value float64) Attr { return Attr{key: key, kind: kindFloat, f: value} }

func (a Attr) slogAttr() slog.Attr {
	switch a.kind {
	case kindInt:
		return slog.Int64(a.key, a.num)
	case kindFloat:
		return slog.Float64(a.key, a.f)
	default:
		return slog.String(a.key, a.str)
	}
}
