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
type schemaBuilder struct {
	components map[string]any
	types      map[string]reflect.Type // schema name -> the Go type that owns it
}

func newSchemaBuilder() *schemaBuilder {
	return &schemaBuilder{components: map[string]any{}, types: map[string]reflect.Type{}}
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
)

// ref returns a schema for t, registering named structs as components.
func (b *schemaBuilder) ref(t reflect.Type) (map[string]any, error) {
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
		items, err := b.ref(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Map:
		values, err := b.ref(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "object", "additionalProperties": values}, nil
	case reflect.Struct:
		if t.Name() == "" {
			return b.object(t)
		}
		return b.component(t)
	case reflect.Interface:
		return map[string]any{}, nil
	default:
		return nil, fmt.Errorf("schema: unsupported type %s", t)
	}
}

// component registers named struct t once and returns a $ref to it.
func (b *schemaBuilder) component(t reflect.Type) (map[string]any, error) {
	name := t.Name()
	ref := map[string]any{"$ref": "#/components/schemas/" + name}
	if owner, ok := b.types[name]; ok {
		if owner != t {
			return nil, fmt.Errorf("schema name %s is used by both %s and %s", name, owner, t)
		}
		return ref, nil
	}
	b.types[name] = t // before descending, so recursive types terminate
	obj, err := b.object(t)
	if err != nil {
		return nil, err
	}
	b.components[name] = obj
	return ref, nil
}

func (b *schemaBuilder) object(t reflect.Type) (map[string]any, error) {
	props := map[string]any{}
	required := []string{}
	for _, f := range jsonFieldsOf(t).list {
		s, err := b.ref(f.typ)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, f.name, err)
		}
		if f.limited {
			constrainText(s, f.typ, f.text)
		}
		props[f.name] = s
		if f.required {
			required = append(required, f.name)
		}
	}
	obj := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		obj["required"] = required
	}
	return obj, nil
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
