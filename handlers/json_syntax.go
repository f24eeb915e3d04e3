package handlers

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"

	"github.com/go-json-experiment/json/jsontext"
)

// checkSyntax is Bind's first pass: the body must be exactly one JSON object, with
// unique member names and valid Unicode text as RFC 7493 (I-JSON) asks. encoding/json
// is lenient there: it turns invalid UTF-8 and lone surrogate escapes ("\ud800") into
// U+FFFD and keeps the last of two members with the same name, so a client's mistake
// would be stored silently altered. jsontext (the Go team's encoding/json/v2 text
// layer, in the standard library from Go 1.27) refuses both by default and says where
// as a JSON pointer, which dst's type turns into the field name Bind reports. A
// correctly encoded U+FFFD (or "\ufffd") is valid text and passes.
func checkSyntax(body []byte, dst reflect.Type) error {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	v, err := dec.ReadValue()
	if err != nil {
		return syntaxProblem(err, dst)
	}
	if v.Kind() != '{' {
		return NewProblem(http.StatusBadRequest, CodeBadRequest, "the request body must be a JSON object")
	}
	end := dec.InputOffset()
	switch _, err := dec.ReadToken(); {
	case err == nil:
		return Problemf(http.StatusBadRequest, CodeBadRequest, "malformed JSON: data after the object, which ends at byte %d", end)
	case !errors.Is(err, io.EOF):
		return syntaxProblem(err, dst)
	}
	return nil
}

// syntaxProblem words a jsontext error, naming the field it happened in when there is one.
func syntaxProblem(err error, dst reflect.Type) *Problem {
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		return Problemf(http.StatusBadRequest, CodeBadRequest, "malformed JSON: %v", err)
	}
	field := fieldOfPointer(se.JSONPointer, dst)
	switch {
	case errors.Is(se.Err, jsontext.ErrDuplicateName):
		return fieldProblem(field, "appears more than once in its object; send each member once")
	case field == "":
		return Problemf(http.StatusBadRequest, CodeBadRequest, "malformed JSON at byte %d: %v", se.ByteOffset, se.Err)
	default:
		return fieldProblem(field, "malformed JSON at byte %d: %v", se.ByteOffset, se.Err)
	}
}

// fieldOfPointer turns a JSON pointer ("/pools/1/granted") into Bind's field notation
// ("pools[1].granted"), reading t to tell list indexes from member names.
func fieldOfPointer(ptr jsontext.Pointer, t reflect.Type) string {
	path := ""
	for tok := range ptr.Tokens() {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			path, t = path+"["+tok+"]", t.Elem()
		case t != nil && t.Kind() == reflect.Map:
			path, t = joinPath(path, tok), t.Elem()
		case t != nil && t.Kind() == reflect.Struct:
			f, known := jsonFieldsOf(t).byName[tok]
			path, t = joinPath(path, tok), nil
			if known {
				t = f.typ
			}
		default: // beyond what dst describes: an unknown field, refused later anyway
			path, t = joinPath(path, tok), nil
		}
	}
	return path
}
