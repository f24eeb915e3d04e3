package handlers

import "github.com/labstack/echo/v4"

// composedOnce is the global middlewares mws (mws[0] outermost, as Echo's Use) as one
// middleware whose chain is built once, here. Echo composes its global middlewares
// anew on every request, around the handler the router found: a closure per
// middleware per request, which a CPU profile under query load counted (issue 10).
// The chain built here ends in the handler the router put into the context, which is
// the handler Echo passes a global middleware (Echo.ServeHTTP: h = c.Handler()), so
// the returned middleware ignores what it is given and returns the same chain each
// time. It must be Echo's only global middleware, and Echo must have no Pre
// middleware (which would run before the router has set c.Handler()).
func composedOnce(mws ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	chain := routedHandler
	for i := len(mws) - 1; i >= 0; i-- {
		chain = mws[i](chain)
	}
	return func(echo.HandlerFunc) echo.HandlerFunc { return chain }
}

// routedHandler runs the handler the router found for the request: the route's, or
// Echo's not-found or method-not-allowed handler.
func routedHandler(c echo.Context) error { return c.Handler()(c) }
