package main

import (
	"github.com/labstack/echo/v4"

	"ledger/handlers"
	"ledger/handlers/console"
)

// httpHandler is the process's HTTP face: the API, and, on a process that serves the
// API (role api or all), the web console at / that reads it. Projector and forwarder
// processes answer only health, readiness, metrics and the document.
func (p *process) httpHandler() *echo.Echo {
	e := handlers.NewServer(p.deps)
	if p.servesAPI {
		console.Mount(e, handlers.NewOIDCDiscovery(p.deps.OIDC))
	}
	return e
}
