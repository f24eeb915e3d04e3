package handlers

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/trace"

	"ledger/infra/logline"
)

// requestLog writes one structured line per request. HandleError makes the central
// error handler run first, so the logged status is the one the client received.
func requestLog(logger *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		HandleError:  true,
		LogLatency:   true,
		LogMethod:    true,
		LogRoutePath: true,
		LogURIPath:   true,
		LogStatus:    true,
		LogError:     true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			ctx := c.Request().Context()
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			if !logger.Enabled(ctx, level) { // at --log-level warn, a request costs no line
				return nil
			}
			var buf [8]logline.Attr // on the stack: one request, one line, no slice to grow
			attrs := append(buf[:0],
				logline.String("method", v.Method),
				logline.String("route", v.RoutePath),
				logline.String("path", v.URIPath),
				logline.Int("status", v.Status),
				logline.Float64("latency_ms", float64(v.Latency.Microseconds())/1000),
				logline.String("correlation_id", CorrelationID(ctx)),
			)
			if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
				// Only when traced (tracing.go): a log line leads to its trace.
				attrs = append(attrs, logline.String("trace_id", sc.TraceID().String()))
			}
			if p, ok := PrincipalFrom(ctx); ok {
				attrs = append(attrs, logline.String("user", p.UserID))
			}
			// The line is written by logline rather than logger.LogAttrs: the process's
			// handler (logline.Handler) formats it straight into a pooled buffer, the same
			// bytes slog writes, where slog's generic record and handler state cost ~8% of
			// server CPU under query load (issue 10); nor does it ask the runtime for the
			// caller's program counter on every line, for a source no handler prints.
			_ = logline.Write(ctx, logger.Handler(), time.Now(), level, "http request", attrs...) // as LogAttrs: a line that cannot be written is not the request's error
			return nil
		},
	})
}
