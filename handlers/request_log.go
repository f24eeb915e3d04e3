package handlers

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/trace"
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
			var buf [8]slog.Attr // on the stack: one request, one line, no slice to grow
			attrs := append(buf[:0],
				slog.String("method", v.Method),
				slog.String("route", v.RoutePath),
				slog.String("path", v.URIPath),
				slog.Int("status", v.Status),
				slog.Float64("latency_ms", float64(v.Latency.Microseconds())/1000),
				slog.String("correlation_id", CorrelationID(ctx)),
			)
			if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
				// Only when traced (tracing.go): a log line leads to its trace.
				attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
			}
			if p, ok := PrincipalFrom(ctx); ok {
				attrs = append(attrs, slog.String("user", p.UserID))
			}
			// The record is made here rather than by logger.LogAttrs, which asks the runtime
			// for the caller's program counter on every line (~1% of server CPU under query
			// load) for a source no handler prints: it would only name this closure.
			r := slog.NewRecord(time.Now(), level, "http request", 0)
			r.AddAttrs(attrs...)
			_ = logger.Handler().Handle(ctx, r) // as LogAttrs: a line that cannot be written is not the request's error
			return nil
		},
	})
}
