package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// refuseMalformedQuery answers 400 for a query string the routes would otherwise read
// silently altered. net/url drops every pair it cannot parse (a ';' separator, a bad
// %-escape) and Echo's QueryParam then sees nothing, so "?minPosition=9999;x" used to
// answer at once without waiting. It also refuses a parameter given twice (QueryParam
// reads only the first; no route takes a list) and text that breaks the rule every
// string follows (text_rules.go: valid UTF-8, no control character). The problem
// names the parameter as its field.
func refuseMalformedQuery(c echo.Context) error {
	if raw := c.Request().URL.RawQuery; raw != "" {
		if err := checkQuery(raw); err != nil {
			return err
		}
	}
	return nil
}

// checkRequestTarget is refuseMalformedQuery and unescapePathParams as one middleware,
// one call fewer per request (issue 10).
func checkRequestTarget(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := refuseMalformedQuery(c); err != nil {
			return err
		}
		if err := unescapePathParams(c); err != nil {
			return err
		}
		return next(c)
	}
}

func checkQuery(raw string) *Problem {
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rawName, _, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			name = rawName
		}
		if strings.Contains(pair, ";") {
			return queryProblem(name, "holds a ';'; separate query parameters with '&' and escape a literal ';' as %%3B")
		}
		values, err := url.ParseQuery(pair) // one pair: the library's rules for escapes
		if err != nil {
			return queryProblem(name, "is not a valid query parameter: %v", err)
		}
		if seen[name] {
			return queryProblem(name, "is given more than once; send it once")
		}
		seen[name] = true
		for _, text := range append([]string{name}, values[name]...) {
			if err := (textRule{}).check(text); err != nil {
				return queryProblem(name, "%v", err)
			}
		}
	}
	return nil
}

func queryProblem(name, format string, args ...any) *Problem {
	return Problemf(http.StatusBadRequest, CodeBadRequest, "query parameter %q: "+format, append([]any{name}, args...)...).
		With("field", name)
}
