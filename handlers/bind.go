package handlers

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// Bind reads the request body as exactly one JSON object into dst, a pointer to a
// struct, and refuses anything else with a 400 bad_request problem that names the
// field: malformed JSON, trailing data, a member name given twice, a string that is not
// valid UTF-8 (raw bytes or a lone surrogate escape), a field the struct does not have
// (matched case-sensitively, unlike encoding/json), a value of the wrong type, a field
// tagged `binding:"required"` that is absent or null, or text that breaks its field's
// rule: a control character or more than its `maxLength` (text_rules.go). A body over
// the limit answers 413.
// Nothing is decoded into dst unless the whole body is acceptable, so a handler that
// gets an error has nothing to store.
func Bind(c echo.Context, dst any) error {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("bind: destination must be a pointer to a struct, got %T", dst)
	}
	if err := requireJSON(c.Request().Header.Get(echo.HeaderContentType)); err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return he
		}
		return Problemf(http.StatusBadRequest, CodeBadRequest, "reading the request body: %v", err)
	}
	return BindJSON(body, dst)
}

// BindJSON is Bind without the request: the same checks on a body already read.
func BindJSON(body []byte, dst any) error {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("bind: destination must be a pointer to a struct, got %T", dst)
	}
	if decodeAcceptable(body, dst) {
		return nil
	}
	return bindCarefully(body, dst, t)
}

// bindCarefully is BindJSON's careful path: three passes over the body (syntax, then
// every field against dst's type, then the decode) so that a refusal names its field. A
// body that decodeAcceptable accepts would pass it unchanged.
func bindCarefully(body []byte, dst any, t reflect.Type) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return NewProblem(http.StatusBadRequest, CodeBadRequest, "the request body is empty; want a JSON object")
	}
	if err := checkSyntax(body, t.Elem()); err != nil {
		return err
	}
	if err := checkValue(body, t.Elem(), "", textRule{}); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		// checkValue has seen every field already; this is a last line of defence.
		return Problemf(http.StatusBadRequest, CodeBadRequest, "invalid request body: %v", err)
	}
	return nil
}

// requireJSON accepts no Content-Type (curl -d without -H is common) or a JSON one.
func requireJSON(contentType string) error {
	if contentType == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil && (mt == echo.MIMEApplicationJSON || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return Problemf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
		"Content-Type %q is not accepted; send application/json", contentType)
}

func fieldProblem(path, format string, args ...any) *Problem {
	return Problemf(http.StatusBadRequest, CodeBadRequest, "field %q: "+format, append([]any{path}, args...)...).
		With("field", path)
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkValue walks raw alongside t and reports the first thing Bind refuses. rule is
// the text rule of the field raw belongs to; it applies to the strings raw holds
// directly (itself, list elements, map keys), not to those of nested structs.
func checkValue(raw json.RawMessage, t reflect.Type, path string, rule textRule) error {
	if isNull(raw) {
		return nil // absent in effect; required fields are checked by their parent
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return checkScalar(raw, t, path, rule)
	}
	switch t.Kind() {
	case reflect.Struct:
		return checkObject(raw, t, path)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return checkScalar(raw, t, path, rule) // []byte is a base64 string in JSON
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fieldProblem(path, "want an array, got %s", jsonKind(raw))
		}
		for i, item := range items {
			if err := checkValue(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), rule); err != nil {
				return err
			}
		}
		return checkScalar(raw, t, path, rule) // array length and the like
	case reflect.Map:
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return fieldProblem(path, "want an object, got %s", jsonKind(raw))
		}
		for _, k := range slices.Sorted(maps.Keys(members)) {
			if err := rule.check(k); err != nil {
				return fieldProblem(joinPath(path, k), "the member name %v", err)
			}
			if err := checkValue(members[k], t.Elem(), joinPath(path, k), rule); err != nil {
				return err
			}
		}
		return checkScalar(raw, t, path, rule) // key types
	case reflect.Interface:
		return nil
	default:
		return checkScalar(raw, t, path, rule)
	}
}

func checkObject(raw json.RawMessage, t reflect.Type, path string) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return fieldProblem(path, "want an object, got %s", jsonKind(raw))
	}
	fields := jsonFieldsOf(t)
	for name := range members {
		if _, ok := fields.byName[name]; !ok {
			return Problemf(http.StatusBadRequest, CodeBadRequest, "unknown field %q", joinPath(path, name)).
				With("field", joinPath(path, name))
		}
	}
	for _, f := range fields.list {
		v, present := members[f.name]
		if f.required && (!present || isNull(v)) {
			return fieldProblem(joinPath(path, f.name), "is required")
		}
		if present {
			if err := checkValue(v, f.typ, joinPath(path, f.name), f.text); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkScalar decodes raw into a fresh value of t and words the failure for a client;
// a string must also follow rule.
func checkScalar(raw json.RawMessage, t reflect.Type, path string, rule textRule) error {
	v := reflect.New(t)
	err := json.Unmarshal(raw, v.Interface())
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return fieldProblem(path, "want %s, got %s", describeType(t), te.Value)
	case err != nil:
		return fieldProblem(path, "%v", err)
	case t.Kind() == reflect.String:
		if err := rule.check(v.Elem().String()); err != nil {
			return fieldProblem(path, "%v", err)
		}
	}
	return nil
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

func jsonKind(raw json.RawMessage) string {
	switch b := bytes.TrimSpace(raw); {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "an array"
	case b[0] == '"':
		return "a string"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	case b[0] == 'n':
		return "null"
	default:
		return "a number"
	}
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// jsonField is one member of a struct as encoding/json names it, with the rule its
// text must follow (text_rules.go).
type jsonField struct {
	name     string
	index    []int // reflect's path to the field, through embedded structs
	typ      reflect.Type
	required bool
	text     textRule
	limited  bool // text carries a maxLength from the tag
	// omitted: the json tag's omitempty or omitzero, so an answer may leave the member out
	// (the OpenAPI document lists every other member of an answer as required).
	omitted bool
	enum    string // the `enum` tag: which list of enumValues the text takes
	ruleErr error  // a malformed tag, reported by Deps.Validate
}

type jsonFields struct {
	list   []jsonField
	byName map[string]jsonField
}

var fieldCache sync.Map // reflect.Type -> jsonFields

// jsonFieldsOf lists the JSON members of struct type t, flattening embedded structs the
// way encoding/json does (shallower names win).
func jsonFieldsOf(t reflect.Type) jsonFields {
	if cached, ok := fieldCache.Load(t); ok {
		return cached.(jsonFields)
	}
	fs := jsonFields{byName: map[string]jsonField{}}
	collectFields(t, nil, &fs)
	fieldCache.Store(t, fs)
	return fs
}

func collectFields(t reflect.Type, index []int, fs *jsonFields) {
	type embeddedStruct struct {
		typ   reflect.Type
		index []int
	}
	var embedded []embeddedStruct
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, options, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, embeddedStruct{ft, append(slices.Clone(index), i)})
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, dup := fs.byName[name]; dup {
			continue
		}
		f := jsonField{name: name, index: append(slices.Clone(index), i), typ: sf.Type, required: hasOption(sf.Tag.Get("binding"), "required"),
			omitted: hasOption(options, "omitempty") || hasOption(options, "omitzero"), enum: sf.Tag.Get("enum")}
		f.text, f.limited, f.ruleErr = textRuleOf(sf)
		fs.list = append(fs.list, f)
		fs.byName[name] = f
	}
	for _, et := range embedded {
		collectFields(et.typ, et.index, fs)
	}
}

func hasOption(tag, option string) bool {
	for o := range strings.SplitSeq(tag, ",") {
		if strings.TrimSpace(o) == option {
			return true
		}
	}
	return false
}
