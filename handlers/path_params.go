package handlers

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// unescapePathParams decodes the path parameters once, for every route. Echo routes on
// the escaped path when the client escaped more than Go would (admin%40contoso.com,
// 42%2F40) and then hands the parameters over still escaped, so a client that encodes
// a segment, as every URL builder does, named another account than the one it meant.
// Routing on the escaped path is right (an escaped / stays inside its segment); the
// parameters are what must be decoded. A parameter that does not decode is a 400.
func unescapePathParams(c echo.Context) error {
	if c.Request().URL.RawPath == "" {
		return nil // nothing was escaped beyond Go's own encoding
	}
	names, values := c.ParamNames(), c.ParamValues()
	decoded := make([]string, len(values))
	for i, v := range values {
		d, err := url.PathUnescape(v)
		if err != nil {
			field := ""
			if i < len(names) {
				field = names[i]
			}
			return Problemf(http.StatusBadRequest, CodeBadRequest, "path parameter %s %q: %v", field, v, err).With("field", field)
		}
		decoded[i] = d
	}
	c.SetParamValues(decoded...)
	return nil
}
