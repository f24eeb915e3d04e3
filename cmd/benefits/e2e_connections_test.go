package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ledger/handlers"
	"ledger/infra/testkit"
)

// heldConnection is a client connection the server has accepted and answered once,
// kept open (keep-alive) as a pooled client or a slow one holds it.
func heldConnection(t *testing.T, s *system) net.Conn {
	t.Helper()
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ledger\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("held connection: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("held connection: answer %d, want 200", resp.StatusCode)
	}
	return c
}

// A crowd of clients past --max-connections does not make the process hold a
// connection, goroutine and buffers for each: a connection past the bound is answered
// at once, 503 overloaded with Retry-After (as a request past an in-flight bound), and
// closed; once a held connection goes, the next client is served again.
func TestConnectionsPastTheBoundAreAnswered503AndClosed(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections = 2
	s := startSystem(t, cfg, wireOptions{})
	first := heldConnection(t, s)
	heldConnection(t, s)

	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := fresh.Get(s.url + "/healthz")
	if err != nil {
		t.Fatalf("a connection past the bound got no answer: %v", err)
	}
	defer resp.Body.Close()
	var p handlers.Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("answer past the bound: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || p.Code != handlers.CodeOverloaded || resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Fatalf("past the bound: %d %q Retry-After %q close %v, want 503 overloaded, Retry-After 1, connection closed",
			resp.StatusCode, p.Code, resp.Header.Get("Retry-After"), resp.Close)
	}
	first.Close()
	// The page is read on the connection that got in: one more would need the slot of
	// the last one, which the server frees only once it has closed it, just after its
	// answer (a request then could be turned away).
	var got string
	testkit.Eventually(t, "a new connection is served once a held one is closed", func() bool {
		resp, err := fresh.Get(s.url + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		got = string(body)
		return err == nil && resp.StatusCode == http.StatusOK
	})
	series := `benefits_http_rejected_total{class="connection",scope="process"} `
	if !strings.Contains(got, series) || strings.Contains(got, series+"0\n") {
		t.Errorf("/metrics does not count the refused connection (want %s > 0)", series)
	}
}
