package handlers

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// schemaBuilder turns Go body types into OpenAPI 3.1 (JSON Schema 2020-12) schemas,
// reading the same json and binding tags Bind enforces. Named structs become shared
// components referenced by $ref.
//
// A type reads differently as a request body and as an answer: a request refuses
// members it does not know (Bind does) and requires what `binding:"required"` says; an
// answer always carries every member without omitempty, and a pointer, map or list
// among them may be null. A type used both ways gets one component per direction.
type schemaBuilder struct {
	components map[string]any
	types      map[string]componentKey // schema name -> the Go type and direction that own it
	names      map[componentKey]string
}

// direction says which way a body travels.
type direction int

const (
	answer  direction = iota // server to client
	request                  // client to server
)

type componentKey struct {
	t   reflect.Type
	dir direction
}

func newSchemaBuilder() *schemaBuilder {
	return &schemaBuilder{components: map[string]any{}, types: map[string]componentKey{}, names: map[componentKey]string{}}
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
)

// ref returns a schema for t travelling in dir, registering named structs as components.
func (b *schemaBuilder) ref(t reflect.Type, dir direction) (map[string]any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}, nil
	}
	if t == rawMessageType {
		// Embedded JSON as it was stored (event data and metadata): any JSON value.
		return map[string]any{"description": "any JSON value"}, nil
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) && t.Kind() == reflect.Struct {
		return map[string]any{"description": "custom JSON form of " + t.String()}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}, nil
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}, nil
		}
		items, err := b.ref(t.Elem(), dir)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Map:
		values, err := b.ref(t.Elem(), dir)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "object", "additionalProperties": values}, nil
	case reflect.Struct:
		if t.Name() == "" {
			return b.object(t, dir)
		}
		return b.component(t, dir)
	case reflect.Interface:
		return map[string]any{}, nil
	default:
		return nil, fmt.Errorf("schema: unsupported type %s", t)
	}
}

// component registers named struct t once per direction and returns a $ref to it. The
// form registered first keeps the Go name (buildOpenAPI registers answers first); the
// other is named <Name>Input (or <Name>Answer).
func (b *schemaBuilder) component(t reflect.Type, dir direction) (map[string]any, error) {
	key := componentKey{t, dir}
	if name, ok := b.names[key]; ok {
		return map[string]any{"$ref": "#/components/schemas/" + name}, nil
	}
	name := t.Name()
	if owner, ok := b.types[name]; ok {
		if owner.t != t {
			return nil, fmt.Errorf("schema name %s is used by both %s and %s", name, owner.t, t)
		}
		name += "Input"
		if dir == answer { // only when a request form was registered first
			name = t.Name() + "Answer"
		}
	}
	b.types[name], b.names[key] = key, name // before descending, so recursive types terminate
	obj, err := b.object(t, dir)
	if err != nil {
		return nil, err
	}
	b.components[name] = obj
	return map[string]any{"$ref": "#/components/schemas/" + name}, nil
}

func (b *schemaBuilder) object(t reflect.Type, dir direction) (map[string]any, error) {
	props := map[string]any{}
	required := []string{}
	for _, f := range jsonFieldsOf(t).list {
		s, err := b.ref(f.typ, dir)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, f.name, err)
		}
		if f.limited {
			constrainText(s, f.typ, f.text)
		}
		if err := constrainEnum(s, f); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, f.name, err)
		}
		switch {
		case dir == request && f.required:
			required = append(required, f.name)
		case dir == answer && !f.omitted:
			required = append(required, f.name)
			if nullable(f.typ) {
				s = orNull(s)
			}
		}
		props[f.name] = s
	}
	obj := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		obj["required"] = required
	}
	if dir == request {
		obj["additionalProperties"] = false // Bind refuses unknown members
	}
	return obj, nil
}

// nullable says whether encoding/json may write a value of t as null: a nil pointer,
// map, slice or interface.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Interface:
		return true
	case reflect.Slice:
		return t != rawMessageType && t.Elem().Kind() != reflect.Uint8
	}
	return false
}

// orNull widens s to also accept null, the OpenAPI 3.1 way: a type array where s
// names one type, anyOf around a reference.
func orNull(s map[string]any) map[string]any {
	switch typ := s["type"].(type) {
	case string:
		s["type"] = []string{typ, "null"}
		return s
	case nil:
		if _, isRef := s["$ref"]; isRef {
			return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
		}
	}
	return s // any JSON value already admits null
}

// constrainText writes rule into schema s of a field of type t: on the string itself, or
// on the items, member names and values of a list or map of strings. Schemas ref builds
// for these types are fresh maps, so writing into them is safe; a $ref is left alone.
func constrainText(s map[string]any, t reflect.Type, rule textRule) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case s == nil || t == timeType:
	case t.Kind() == reflect.String:
		s["maxLength"] = rule.maxLength
		s["pattern"] = rule.pattern()
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		items, _ := s["items"].(map[string]any)
		constrainText(items, t.Elem(), rule)
	case t.Kind() == reflect.Map:
		names := map[string]any{"type": "string"}
		constrainText(names, t.Key(), rule)
		s["propertyNames"] = names
		values, _ := s["additionalProperties"].(map[string]any)
		constrainText(values, t.Elem(), rule)
	}
}

// constrainEnum writes the values of the field's `enum` tag into its schema: on the
// string itself or on the items of a list.
func constrainEnum(s map[string]any, f jsonField) error {
	if f.enum == "" {
		return nil
	}
	values, known := enumValues[f.enum]
	if !known {
		return fmt.Errorf("enum tag %q names no list of values in enumValues", f.enum)
	}
	if items, ok := s["items"].(map[string]any); ok {
		s = items
	}
	s["enum"] = values
	return nil
}
