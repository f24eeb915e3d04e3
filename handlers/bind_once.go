package handlers

import (
	"reflect"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// oneDecodeOptions decode as encoding/json does (the careful path's last pass decodes
// with it, so an accepted body gives the same value either way), but as strictly as the
// careful path's first passes check: one JSON value and nothing after it, each member
// name once, valid UTF-8, names matched case-sensitively, no unknown member.
var oneDecodeOptions = json.JoinOptions(
	jsonv1.DefaultOptionsV1(),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
	json.MatchCaseInsensitiveNames(false),
	json.RejectUnknownMembers(true),
)

// decodeAcceptable is BindJSON's fast path, for the common case of a good body: it
// decodes body into dst in one pass and then checks on the decoded value what the
// careful path checks on the text (required fields, text rules). It reports true only
// when the careful path would have accepted the body and decoded the same value; on
// false, dst is left as it was and the careful path decides, and words the refusal, as
// before (a CPU profile under command load found the three passes ~4% of the server).
func decodeAcceptable(body []byte, dst any) bool {
	v := reflect.ValueOf(dst).Elem()
	if !v.IsZero() || !startsObject(body) {
		return false // decoding merges into what dst holds; the careful path only sees a fresh one
	}
	if err := json.Unmarshal(body, dst, oneDecodeOptions); err != nil || !acceptableValue(v, textRule{}) {
		v.SetZero()
		return false
	}
	return true
}

// startsObject: the careful path refuses any body but one JSON object (null included,
// which a decode into a struct would take as nothing).
func startsObject(body []byte) bool {
	for _, b := range body {
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// acceptableValue is checkValue on a decoded value: false when checkValue could refuse
// the text v came from. rule is the text rule of the field v belongs to.
func acceptableValue(v reflect.Value, rule textRule) bool {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return true // null or absent; required fields are checked by their parent
		}
		v = v.Elem()
	}
	t := v.Type()
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return t.Kind() != reflect.String || rule.check(v.String()) == nil
	}
	switch t.Kind() {
	case reflect.Struct:
		return acceptableObject(v)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return true
		}
		for i := range v.Len() {
			if !acceptableValue(v.Index(i), rule) {
				return false
			}
		}
		return true
	case reflect.Map:
		if t.Key().Kind() != reflect.String || reflect.PointerTo(t.Key()).Implements(textUnmarshaler) {
			return false // the careful path checks the key as written; let it
		}
		for it := v.MapRange(); it.Next(); {
			if rule.check(it.Key().String()) != nil || !acceptableValue(it.Value(), rule) {
				return false
			}
		}
		return true
	case reflect.String:
		return rule.check(v.String()) == nil
	default:
		return true
	}
}

// acceptableObject: a required field must hold something other than its zero value
// (a zero one may have been absent or null, or given as zero: the careful path tells),
// and every field must be acceptable under its own text rule.
func acceptableObject(v reflect.Value) bool {
	for _, f := range jsonFieldsOf(v.Type()).list {
		fv, err := v.FieldByIndexErr(f.index)
		if err != nil {
			return false // behind a nil embedded pointer
		}
		if f.required && fv.IsZero() || !acceptableValue(fv, f.text) {
			return false
		}
	}
	return true
}
