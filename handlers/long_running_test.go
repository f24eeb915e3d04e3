package handlers_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/handlers"
)

// A rebuild answers when it is done, which may be long after the server's write
// timeout; the route is marked LongRunning and its answer still arrives, while an
// ordinary route working as long is cut off by the same server.
func TestALongRunningRouteAnswersPastTheWriteTimeout(t *testing.T) {
	const writeTimeout = 200 * time.Millisecond
	work := func(c echo.Context) error {
		time.Sleep(5 * writeTimeout) // the work outlasts the deadline, whatever the scheduling
		return c.JSON(http.StatusOK, thingView{ID: "done"})
	}
	routes := []handlers.Route{
		{Method: http.MethodPost, Path: "/v1/long", Summary: "long", Public: true, LongRunning: true, Response: thingView{}, Handler: work},
		{Method: http.MethodPost, Path: "/v1/ordinary", Summary: "ordinary", Public: true, Response: thingView{}, Handler: work},
	}
	srv := httptest.NewUnstartedServer(handlers.NewServer(handlers.Deps{Logger: slog.New(slog.DiscardHandler), JWTSecret: testSecret, WriteTimeout: writeTimeout, Routes: routes}))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = writeTimeout, writeTimeout
	srv.Start()
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/v1/long", "application/json", nil)
	if err != nil {
		t.Fatalf("long-running route: %v", err)
	}
	defer resp.Body.Close()
	var got thingView
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK || got.ID != "done" {
		t.Errorf("long-running route: status %d, body %+v, %v; want 200 done", resp.StatusCode, got, err)
	}

	if resp, err := http.Post(srv.URL+"/v1/ordinary", "application/json", nil); err == nil {
		resp.Body.Close()
		t.Errorf("an ordinary route answered %d past the write timeout; want the connection cut", resp.StatusCode)
	}
}
