// Package console is the ledger's web console: a small static app (ES modules and CSS,
// no build step) embedded in the binary and served at /. It reads and writes only the
// public /v1 API with the bearer token the user pastes, so it can never show what the
// API would refuse: the API decides, the page only renders what it was given.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"ledger/handlers"
)

//go:embed static
var static embed.FS

// AssetPrefix is where the console's files are served; / serves its index.
const AssetPrefix = "/console/"

// ContentSecurityPolicy admits only the console's own files and the API of the same
// origin: no inline script or style, no third-party host, no framing, no plugins.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Mount serves the console on e: GET / is the app's page, GET /console/* its files and
// GET /console/config.json what sign-in it offers (oidc nil: the pasted token only).
// Every answer carries the policy above (with the OIDC provider's origins admitted to
// connect-src when it is configured), so a page that tried to load anything else
// would be refused by the browser (the browser tests fail on such refusals).
func Mount(e *echo.Echo, oidc *handlers.OIDCDiscovery) {
	signIn := newSignInConfig(oidc)
	secure := signIn.secure
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	assets := http.StripPrefix(AssetPrefix, http.FileServer(http.FS(files)))
	e.GET("/", func(c echo.Context) error {
		secure(c.Response().Header())
		return c.HTMLBlob(http.StatusOK, index)
	})
	e.GET(AssetPrefix+"config.json", signIn.serve)
	e.GET(AssetPrefix+"*", func(c echo.Context) error {
		// Only the app's files: no directory listing, and the API's own problem+json
		// for anything else.
		info, err := fs.Stat(files, strings.TrimPrefix(c.Request().URL.Path, AssetPrefix))
		if err != nil || info.IsDir() {
			return echo.ErrNotFound
		}
		secure(c.Response().Header())
		assets.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}

// secureWith sets the headers every console answer carries, with policy as its CSP.
// no-cache makes the browser revalidate, so a new binary's files are picked up at once.
func secureWith(h http.Header, policy string) {
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
}
