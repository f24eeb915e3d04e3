package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func noEnv(string) (string, bool) { return "", false }

func TestProbeExitCodeFollowsTheAnswer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte(`{"status":"ok"}`))
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"code":"not_ready","detail":"nats is not reachable"}`))
		case "/hang":
			<-release
		}
	}))
	defer srv.Close()
	defer close(release)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	cases := []struct {
		name     string
		args     []string
		code     int
		inOutput string
	}{
		{"a 200 is healthy", []string{"--url", srv.URL + "/healthz"}, 0, "200 OK"},
		{"a 503 is unhealthy and says why", []string{"--url", srv.URL + "/readyz"}, 1, "nats is not reachable"},
		{"nothing listening is unhealthy", []string{"--url", closed}, 1, "connection refused"},
		{"no answer within --timeout is unhealthy", []string{"--url", srv.URL + "/hang", "--timeout", "50ms"}, 1, "deadline exceeded"},
		{"a URL that is not http is a usage error naming the flag", []string{"--url", "ftp://x/"}, 2, "--url"},
		{"--help lists the flags", []string{"--help"}, 0, "--timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"probe"}, c.args...), noEnv, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d; stdout %q stderr %q", code, c.code, stdout.String(), stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, c.inOutput) {
				t.Errorf("output %q does not mention %q", out, c.inOutput)
			}
		})
	}
}
