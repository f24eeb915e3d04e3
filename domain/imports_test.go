package domain

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The domain imports nothing but the standard library (architecture: no infra, handlers
// or drivers in the domain), and the staging copy of the standard library's JSON v2
// (encoding/json/v2 is still behind GOEXPERIMENT=jsonv2 in Go 1.26): the event codec
// reads history with it because encoding/json can refuse unknown fields only through
// a Decoder per event, and the incident log streams itself into a snapshot through its
// jsontext encoder. When v2 leaves the experiment, the import becomes its std path.
var domainImportsBesidesStd = map[string]bool{
	"github.com/go-json-experiment/json":          true,
	"github.com/go-json-experiment/json/v1":       true,
	"github.com/go-json-experiment/json/jsontext": true,
	"golang.org/x/text/language":                  true, // ISO 3166 country codes (IncidentOpened.v2)
}

func TestDomainImportsOnlyTheStandardLibrary(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); (strings.Contains(first, ".") && !domainImportsBesidesStd[path]) || first == "ledger" {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
