package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// probe is `benefits probe`: the container health check. The runtime image is
// distroless (no shell, no curl, no wget), so the binary checks itself: it GETs a URL
// and exits 0 on a 2xx answer, 1 otherwise.
const probeSynopsis = "probe [--url http://127.0.0.1:8080/healthz] [--timeout 3s]"

type probeRequest struct {
	URL     string
	Timeout time.Duration
}

func probeSettings(p *probeRequest) []setting {
	return []setting{
		{name: "url", def: "http://127.0.0.1:8080/healthz", noEnv: true,
			usage: "URL to GET; a 2xx answer is healthy (/healthz: the process serves; /readyz: its stores and NATS answer)",
			apply: func(v string) error {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("want an http:// or https:// URL with a host")
				}
				p.URL = v
				return nil
			}},
		{name: "timeout", def: "3s", noEnv: true, usage: "longest wait for the answer",
			apply: func(v string) (err error) {
				p.Timeout, err = parseDuration(v, time.Minute)
				return err
			}},
	}
}

// runProbe GETs the URL and reports what it found on stdout; an unhealthy answer is an
// error (exit 1) that names the status and the start of the body.
func runProbe(ctx context.Context, args []string, env func(string) (string, bool), stdout io.Writer) error {
	var p probeRequest
	if err := parseSettings("probe", probeSynopsis, probeSettings(&p), args, env, stdout); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", p.URL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", p.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("probe %s: %s: %s", p.URL, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s %s\n", p.URL, resp.Status)
	return nil
}
