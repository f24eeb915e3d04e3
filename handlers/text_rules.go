package handlers

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// textRule is what a string the API accepts must satisfy. It is read from the struct
// tags of a body field, `maxLength:"200"` and `multiline:"true"`, by both Bind and the
// OpenAPI schema, so each limit has one home: the tag. On a field holding strings in a
// list or a map the rule applies to every element and every map key.
//
// Decision: every string, tagged or not, is valid UTF-8 (the JSON pass refuses invalid
// bytes and lone surrogate escapes) and holds no control character (Unicode category
// Cc: C0 U+0000-U+001F, DEL, C1 U+0080-U+009F), because identifiers and names end up
// in logs, stream names, SQL rows and other systems' UIs where they do harm and no
// legitimate value needs them. A field tagged multiline (free text such as a
// resolution note) may also hold TAB, LF and CR. A correctly encoded U+FFFD is text
// like any other and is accepted.
type textRule struct {
	maxLength int  // in Unicode code points, as JSON Schema counts; 0 = no limit
	multiline bool // TAB, LF and CR allowed
}

// Struct tags that carry a textRule.
const (
	tagMaxLength = "maxLength"
	tagMultiline = "multiline"
)

// controlRanges are the control characters refused in text; multilineControls are the
// ones a multiline field accepts.
var (
	controlRanges     = [][2]rune{{0x00, 0x1F}, {0x7F, 0x9F}}
	multilineControls = []rune{'\t', '\n', '\r'}
)

// textRuleOf reads the rule of struct field sf; ok is false when it has no maxLength.
func textRuleOf(sf reflect.StructField) (rule textRule, ok bool, err error) {
	rule.multiline = sf.Tag.Get(tagMultiline) == "true"
	raw, tagged := sf.Tag.Lookup(tagMaxLength)
	if !tagged {
		return rule, false, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return rule, false, fmt.Errorf("field %s: %s tag %q is not a positive integer", sf.Name, tagMaxLength, raw)
	}
	rule.maxLength = n
	return rule, true, nil
}

// check says what is wrong with s, worded to follow a field name.
func (r textRule) check(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	n := 0
	for _, c := range s {
		n++
		if r.refuses(c) {
			return fmt.Errorf("holds the control character U+%04X at character %d; control characters are not accepted", c, n)
		}
	}
	if r.maxLength > 0 && n > r.maxLength {
		return fmt.Errorf("is %d characters long; at most %d are accepted", n, r.maxLength)
	}
	return nil
}

func (r textRule) refuses(c rune) bool {
	for _, cr := range controlRanges {
		if c >= cr[0] && c <= cr[1] {
			return !r.multiline || !slices.Contains(multilineControls, c)
		}
	}
	return false
}

// pattern is the same rule as an ECMA-262 regular expression for the OpenAPI document:
// a string of characters outside the refused ranges.
func (r textRule) pattern() string {
	var class strings.Builder
	for _, cr := range controlRanges {
		start := rune(-1) // first refused character of the current run
		for c := cr[0]; c <= cr[1]+1; c++ {
			refused := c <= cr[1] && r.refuses(c)
			switch {
			case refused && start < 0:
				start = c
			case !refused && start >= 0:
				writeRange(&class, start, c-1)
				start = -1
			}
		}
	}
	return "^[^" + class.String() + "]*$"
}

func writeRange(b *strings.Builder, lo, hi rune) {
	fmt.Fprintf(b, `\u%04X`, lo)
	if hi > lo {
		fmt.Fprintf(b, `-\u%04X`, hi)
	}
}

// holdsText reports whether a value of t is a string, or a list or map whose elements or
// keys are strings: the fields whose maxLength tag constrains something.
func holdsText(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return true
	case reflect.Slice, reflect.Array:
		return t.Elem().Kind() != reflect.Uint8 && holdsText(t.Elem())
	case reflect.Map:
		return t.Key().Kind() == reflect.String || holdsText(t.Elem())
	default:
		return false
	}
}

// checkTextLimits reports every field of body type t (and of the types it nests) that
// holds text without a maxLength tag, or with a malformed one: a request body cannot
// be registered with an unbounded string.
func checkTextLimits(t reflect.Type) error {
	var errs []error
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == timeType || seen[t] {
			return
		}
		seen[t] = true
		for _, f := range jsonFieldsOf(t).list {
			switch {
			case f.ruleErr != nil:
				errs = append(errs, fmt.Errorf("%s.%s: %w", t, f.name, f.ruleErr))
			case !f.limited && holdsText(f.typ):
				errs = append(errs, fmt.Errorf("body field %s (%s.%s) holds text but has no %s tag", joinPath(path, f.name), t, f.name, tagMaxLength))
			}
			walk(f.typ, joinPath(path, f.name))
		}
	}
	walk(t, "")
	return errors.Join(errs...)
}
