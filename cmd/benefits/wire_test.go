package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"ledger/domain"
	"ledger/handlers"
)

// domainCodes reads every constant of type domain.Code from the domain's source, so a
// code added there without a status here fails this test instead of answering 422.
func domainCodes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "domain", "*.go"))
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
		if status, known := handlers.DomainStatus(code); !known {
			t.Errorf("domain code %q has no status in handlers' table (would answer %d)", code, status)
		}
	}
}

func TestDomainRefusalsAreRecognisedThroughWrapping(t *testing.T) {
	zero := 0
	wrapped := fmt.Errorf("open incident: %w", &domain.Error{Code: domain.CodePoolExhausted, Message: "pool empty", Remaining: &zero})
	r, ok := domainRefusal(wrapped)
	if !ok || r.Code != "pool_exhausted" || r.Message != "pool empty" || r.Extra["remaining"] != 0 {
		t.Errorf("refusal %+v ok %v", r, ok)
	}
	if _, ok := domainRefusal(errors.New("disk full")); ok {
		t.Error("a plain error was taken for a refusal")
	}
}

// The read database's pool bound, the write timeout (which long-running routes re-arm)
// and the token lifetime reach the parts that use them.
func TestWireHandsTheSettingsToTheParts(t *testing.T) {
	cfg := testConfig(t)
	cfg.Role = RoleAPI
	cfg.ReadDBMaxConns, cfg.WriteTimeout, cfg.MaxTokenLifetime = 5, 40*time.Second, 8*time.Hour
	cfg.EventStoreMaxConns = 7
	proc, err := wire(t.Context(), cfg, testLogger(t), e2eSecret)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.close()
	if got := proc.readDB.Stats().MaxOpenConnections; got != 5 {
		t.Errorf("read database pool bound %d, want --read-db-max-conns 5", got)
	}
	if got := eventStoreDB(t, &system{proc: proc}).Stats().MaxOpenConnections; got != 7 {
		t.Errorf("event store pool bound %d, want --event-store-max-conns 7", got)
	}
	if proc.deps.WriteTimeout != cfg.WriteTimeout || proc.deps.MaxTokenLifetime != cfg.MaxTokenLifetime {
		t.Errorf("deps write timeout %s, token lifetime %s; want %s and %s",
			proc.deps.WriteTimeout, proc.deps.MaxTokenLifetime, cfg.WriteTimeout, cfg.MaxTokenLifetime)
	}
}
