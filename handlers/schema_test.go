package handlers

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Event data and metadata travel as embedded JSON, not as base64 strings.
func TestOpenAPIDescribesEmbeddedJSONAsAnyValue(t *testing.T) {
	b := newSchemaBuilder()
	data, err := b.ref(reflect.TypeFor[json.RawMessage](), answer)
	if err != nil {
		t.Fatal(err)
	}
	if _, typed := data["type"]; typed {
		t.Fatalf("json.RawMessage described as %v; want any JSON value", data)
	}
	raw, err := b.ref(reflect.TypeFor[[]byte](), answer)
	if err != nil || raw["contentEncoding"] != "base64" {
		t.Fatalf("[]byte described as %v (%v); want a base64 string", raw, err)
	}
}
