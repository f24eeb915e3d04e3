package main

import (
	"slices"

	"ledger/handlers"
)

// routeAPIs are what the route groups read; addAPI builds them once.
type routeAPIs struct {
	api   handlers.API
	audit handlers.AuditAPI
	ops   handlers.OpsAPI
	rules handlers.RulesAPI
	// transparency is the signed checkpoints and their proofs (checkpoints.go).
	transparency handlers.TransparencyAPI
	// privacy is the erasure of a person's data (personal_data.go); nil: not served.
	privacy *handlers.PrivacyAPI
}

// apiRoutes is the one list of the routes an API process serves beside the built-in
// ones (health, readiness, metrics, the OpenAPI document); a new group is one line here.
func apiRoutes(a routeAPIs) []handlers.Route {
	routes := slices.Concat(
		handlers.CommandRoutes(a.api),
		handlers.QueryRoutes(a.api),
		handlers.AuditRoutes(a.audit),
		handlers.OpsRoutes(a.ops),
		handlers.RulesRoutes(a.rules),
		handlers.TransparencyRoutes(a.transparency),
	)
	if a.privacy != nil {
		routes = append(routes, handlers.PrivacyRoutes(*a.privacy)...)
	}
	return routes
}
