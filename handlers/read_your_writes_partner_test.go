package handlers_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/handlers"
)

// Read-your-writes with partitioned read models: a query route that reads one
// partner's rows waits for that partner (its partition) only; one that may read any
// partner's rows waits for all of them.
func TestPartnerQueryWaitsForItsPartnerAndOthersForEveryPartner(t *testing.T) {
	f := newFixture(t)
	auth := bearer(t, "alice")
	for _, path := range []string{"/v1/partners/P7/things?" + handlers.QueryMinPosition + "=0", "/v1/things/t1?" + handlers.QueryMinPosition + "=0"} {
		if rec := f.do(http.MethodGet, path, nil, "Authorization", auth); rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	asked := f.board.partnersAsked()
	if !slices.Equal(asked, []string{"P7", ""}) {
		t.Errorf("waits were for partners %q, want the partner query's P7, then every partner (\"\")", asked)
	}
}

func TestARouteNamingAPartnerParameterItsPathLacksIsRefused(t *testing.T) {
	err := handlers.Deps{JWTSecret: testSecret, Projections: newPositionBoard(),
		Routes: []handlers.Route{{Method: http.MethodGet, Path: "/v1/things/:id", Summary: "x", Projection: "things",
			PartnerParam: "mpnId", Response: thingView{}, Handler: func(c echo.Context) error { return nil }}}}.Validate()
	if err == nil || !strings.Contains(err.Error(), `partner parameter "mpnId"`) {
		t.Fatalf("a partner parameter that is not in the path: %v, want refused", err)
	}
}

// A query route whose path names the partner through another ID (a contract's linked
// accounts: the contract ID holds its partner's MPN ID) waits for that partner's
// partition only; an ID that names no partner waits for every partner (the handler then
// answers that it does not exist).
func TestAQueryByContractWaitsForTheContractsPartner(t *testing.T) {
	f := newFixture(t, func(d *handlers.Deps) {
		d.Routes = append(d.Routes, handlers.Route{Method: http.MethodGet, Path: "/v1/contracts/:contractId/things",
			Summary: "a contract's things", Projection: "things", PartnerParam: "contractId", PartnerOf: domain.PartnerOfContract,
			Response: thingView{}, Handler: func(c echo.Context) error { return c.JSON(http.StatusOK, thingView{ID: c.Param("contractId")}) }})
	})
	auth := bearer(t, "alice")
	for _, contract := range []string{"CT-1234567-0001", "not-a-contract"} {
		path := "/v1/contracts/" + contract + "/things?" + handlers.QueryMinPosition + "=0"
		if rec := f.do(http.MethodGet, path, nil, "Authorization", auth); rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	asked := f.board.partnersAsked()
	if !slices.Equal(asked, []string{"1234567", ""}) {
		t.Errorf("waits were for partners %q, want the contract's partner 1234567, then every partner (\"\")", asked)
	}
}

func TestARouteReadingThePartnerOutOfNoParameterIsRefused(t *testing.T) {
	err := handlers.Deps{JWTSecret: testSecret, Projections: newPositionBoard(),
		Routes: []handlers.Route{{Method: http.MethodGet, Path: "/v1/things/:id", Summary: "x", Projection: "things",
			PartnerOf: domain.PartnerOfContract, Response: thingView{}, Handler: func(c echo.Context) error { return nil }}}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "PartnerOf reads no parameter") {
		t.Fatalf("PartnerOf without PartnerParam: %v, want refused", err)
	}
}

// A partner parameter names the partner of a query (its wait, its per-partner bound); a
// command finds its partner itself, so the table refuses one there.
func TestAPartnerParameterOnACommandRouteIsRefused(t *testing.T) {
	err := handlers.Deps{JWTSecret: testSecret, Projections: newPositionBoard(),
		Routes: []handlers.Route{{Method: http.MethodPost, Path: "/v1/partners/:mpnId/things", Summary: "x",
			PartnerParam: "mpnId", Handler: func(c echo.Context) error { return nil }}}}.Validate()
	if err == nil || !strings.Contains(err.Error(), `partner parameter "mpnId" is not a parameter of a query path`) {
		t.Fatalf("a partner parameter on a command route: %v, want refused", err)
	}
}
