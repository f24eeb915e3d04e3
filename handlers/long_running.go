package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// liftDeadlines lets a long-running route work past the server's read and write
// deadlines: while its handler works the connection has none (so the request's context
// is not cancelled by the read deadline, nor its answer lost to the write deadline),
// and the write deadline is set again, writeTimeout ahead, when the answer starts, so a
// client that never reads the answer is still cut off. Where the writer cannot set
// deadlines (a test recorder) the route runs as it is.
func liftDeadlines(writeTimeout time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			rc := http.NewResponseController(c.Response())
			if err := rc.SetWriteDeadline(time.Time{}); err != nil {
				return next(c)
			}
			_ = rc.SetReadDeadline(time.Time{})
			if writeTimeout > 0 {
				c.Response().Before(func() { _ = rc.SetWriteDeadline(time.Now().Add(writeTimeout)) })
			}
			return next(c)
		}
	}
}
