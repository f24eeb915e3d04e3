package handlers

import (
	"log/slog"

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
			logger.LogAttrs(ctx, level, "http request", attrs...)
			return nil
		},
	})
}
