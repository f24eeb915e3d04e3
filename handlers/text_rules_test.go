package handlers

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The pattern the document shows is the rule Bind applies, character for character.
func TestTextPatternInTheDocumentIsTheRuleBindApplies(t *testing.T) {
	ecmaEscape := regexp.MustCompile(`\\u([0-9A-F]{4})`)
	for _, rule := range []textRule{{}, {multiline: true}} {
		goPattern := ecmaEscape.ReplaceAllString(rule.pattern(), `\x{$1}`)
		re, err := regexp.Compile(goPattern)
		if err != nil {
			t.Fatalf("pattern %q: %v", rule.pattern(), err)
		}
		for c := rune(0); c < 0x3000; c++ {
			s := "a" + string(c) + "b"
			if matched, accepted := re.MatchString(s), rule.check(s) == nil; matched != accepted {
				t.Errorf("multiline=%v U+%04X: pattern matches %v, Bind accepts %v", rule.multiline, c, matched, accepted)
			}
		}
	}
}

// Every string a command body carries, down to list items, map keys and nested
// catalog entries, has a limit, and the document says which.
func TestEveryCommandBodyStringHasADocumentedLimit(t *testing.T) {
	routes := CommandRoutes(API{})
	doc, err := buildOpenAPI(routes, "test")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Components struct{ Schemas map[string]any } `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Request == nil {
			continue
		}
		if err := checkTextLimits(reflect.TypeOf(r.Request)); err != nil {
			t.Errorf("%s %s: %v", r.Method, r.Path, err)
		}
		name := reflect.TypeOf(r.Request).Name()
		strings := 0
		walkStringSchemas(d.Components.Schemas, d.Components.Schemas[name], name, map[string]bool{}, func(at string, s map[string]any) {
			strings++
			if _, ok := s["maxLength"].(float64); !ok || s["pattern"] == nil {
				t.Errorf("%s: string %s has no maxLength and pattern: %v", name, at, s)
			}
		})
		if strings == 0 {
			t.Errorf("%s: no string schema found; the walk is broken", name)
		}
	}
}

// walkStringSchemas calls found for every string schema (but date-times) reachable from
// s, following $refs into components once each.
func walkStringSchemas(components map[string]any, s any, at string, seen map[string]bool, found func(string, map[string]any)) {
	m, ok := s.(map[string]any)
	if !ok {
		return
	}
	if ref, ok := m["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if !seen[name] {
			seen[name] = true
			walkStringSchemas(components, components[name], name, seen, found)
		}
		return
	}
	if m["type"] == "string" && m["format"] != "date-time" {
		found(at, m)
	}
	for key, sub := range m {
		switch key {
		case "properties":
			for name, p := range sub.(map[string]any) {
				walkStringSchemas(components, p, at+"."+name, seen, found)
			}
		case "items", "additionalProperties", "propertyNames":
			walkStringSchemas(components, sub, at+"/"+key, seen, found)
		}
	}
}

// A request body with a string that has no limit, or a malformed one, stops start-up
// with the field named.
func TestValidateNamesBodyTextWithoutALimit(t *testing.T) {
	type inner struct {
		Note string `json:"note"`
	}
	type unbounded struct {
		Name   string            `json:"name" maxLength:"20"`
		Title  string            `json:"title"`
		Tags   []string          `json:"tags"`
		Labels map[string]int    `json:"labels"`
		Inner  []inner           `json:"inner"`
		Bad    string            `json:"bad" maxLength:"lots"`
		Fine   map[string]string `json:"fine" maxLength:"5"`
	}
	err := validateRoutes([]Route{{Method: "POST", Path: "/a", Request: unbounded{}, Handler: healthz("")}}, false)
	if err == nil {
		t.Fatal("accepted unbounded text")
	}
	for _, want := range []string{"body field title ", "body field tags ", "body field labels ", "body field inner.note ", `maxLength tag "lots"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	for _, unwanted := range []string{"field name ", "field fine "} {
		if strings.Contains(err.Error(), unwanted) {
			t.Errorf("error mentions a bounded field %q: %v", unwanted, err)
		}
	}
}
