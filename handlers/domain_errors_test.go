package handlers_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/handlers"
)

// domainCodes reads every constant of type domain.Code from the domain's source, so a
// code added there without a status here fails this test instead of answering 422.
func domainCodes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "domain", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("domain sources: %v", err)
	}
	var codes []string
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok || spec.Type == nil {
				return true
			}
			if id, ok := spec.Type.(*ast.Ident); !ok || id.Name != "Code" {
				return true
			}
			for _, v := range spec.Values {
				if lit, ok := v.(*ast.BasicLit); ok {
					s, _ := strconv.Unquote(lit.Value)
					codes = append(codes, s)
				}
			}
			return true
		})
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d domain codes: %v", len(codes), codes)
	}
	return codes
}

func TestEveryDomainCodeHasAnHTTPStatus(t *testing.T) {
	for _, code := range domainCodes(t) {
		if status, known := handlers.DomainStatus(domain.Code(code)); !known {
			t.Errorf("domain code %q has no status in handlers' table (would answer %d)", code, status)
		}
	}
}

// A refusal wrapped on its way up still answers with its own status and code, and
// carries what the domain put beside the message (R22's remaining).
func TestDomainRefusalsAreRecognisedThroughWrapping(t *testing.T) {
	zero := 0
	f := newFixture(t, func(d *handlers.Deps) {
		d.Routes = append(d.Routes, handlers.Route{Method: http.MethodPost, Path: "/v1/wrapped", Summary: "wrapped refusal",
			Handler: func(echo.Context) error {
				return fmt.Errorf("open incident: %w", &domain.Error{Code: domain.CodePoolExhausted, Message: "pool empty", Remaining: &zero})
			}})
	})
	p := problemOf(t, f.do(http.MethodPost, "/v1/wrapped", nil, "Authorization", bearer(t, "alice")))
	if p.Status != http.StatusConflict || p.Code != "pool_exhausted" || p.Detail != "pool empty" || p.Extra["remaining"] != float64(0) {
		t.Errorf("problem %+v", p)
	}
}
