package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"ledger/projections"
)

// remoteAPI is where an operator's command goes instead of opening the stores itself:
// a running deployment's HTTP API, so nobody has to exec into a container to list
// projections, rebuild one, verify the chain or export a partner's history.
type remoteAPI struct {
	URL       *url.URL // nil: open the stores locally
	Token     string
	TokenFile string
}

func (r *remoteAPI) enabled() bool { return r.URL != nil }

// remoteSettings are --api-url and its bearer token (--token, or --token-file for one
// kept out of the environment and the process list).
func remoteSettings(r *remoteAPI) []setting {
	return []setting{
		{name: "api-url", def: "", usage: "base URL of a running ledger (http://host:8080); the command calls its HTTP API instead of opening the stores",
			apply: func(v string) error {
				if v == "" {
					return nil
				}
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("want an http:// or https:// URL with a host")
				}
				r.URL = u
				return nil
			}},
		{name: "token", def: "", secret: true, usage: "bearer token for --api-url (see benefits token); an ops or auditor role",
			apply: func(v string) error { r.Token = strings.TrimSpace(v); return nil }},
		{name: "token-file", def: "", usage: "file holding the bearer token for --api-url (instead of --token)",
			apply: func(v string) error {
				r.TokenFile = v
				if v == "" {
					return nil
				}
				b, err := os.ReadFile(v)
				if err != nil {
					return err
				}
				r.Token = strings.TrimSpace(string(b))
				return nil
			}},
	}
}

// check refuses a URL without a token. A token without a URL is ignored: BENEFITS_TOKEN
// may be exported for other commands (loadtest reads it too).
func (r *remoteAPI) check() error {
	if r.URL != nil && r.Token == "" {
		return usageError{errors.New("--api-url needs a bearer token: --token / BENEFITS_TOKEN or --token-file / BENEFITS_TOKEN_FILE")}
	}
	return nil
}

// apiError is a refusal from the remote API, carrying its problem+json code.
type apiError struct {
	Status int
	Code   string
	Detail string
}

func (e apiError) Error() string {
	return fmt.Sprintf("the API answered %d %s: %s", e.Status, e.Code, e.Detail)
}

// call sends method path?query and decodes a 2xx JSON answer into out (nil: ignored).
// It returns the status so a caller can tell 200 from 202.
func (r *remoteAPI) call(ctx context.Context, method, path string, query url.Values, out any) (int, error) {
	u := r.URL.JoinPath(path)
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+r.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: time.Hour}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("--api-url %s: %w", redactURL(r.URL.String()), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var p struct{ Code, Detail, Title string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p)
		if p.Detail == "" {
			p.Detail = p.Title
		}
		return resp.StatusCode, apiError{Status: resp.StatusCode, Code: p.Code, Detail: p.Detail}
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// rebuildRemote is `projections rebuild NAME --api-url`: POST the rebuild, which the
// API runs in the background (202), then follow its status resource until it is done
// and print its report; a failed rebuild exits non-zero.
func rebuildRemote(ctx context.Context, remote remoteAPI, name string, opts projections.RebuildOptions, output string, stdout io.Writer) error {
	if opts.Restart {
		return usageError{errors.New("--restart is not offered over --api-url: the server resumes or restarts an interrupted rebuild itself")}
	}
	q := url.Values{}
	if opts.DryRun {
		q.Set("dryRun", "true")
	}
	var st projections.RebuildJobStatus
	if _, err := remote.call(ctx, http.MethodPost, "/v1/ops/projections/"+url.PathEscape(name)+"/rebuild", q, &st); err != nil {
		return err
	}
	statusPath := "/v1/ops/projections/" + url.PathEscape(name) + "/rebuilds/" + url.PathEscape(st.ID)
	for st.State == projections.JobRunning {
		select {
		case <-ctx.Done():
			return fmt.Errorf("rebuild %s of %s still running on the server (%s): %w", st.ID, name, statusPath, ctx.Err())
		case <-time.After(remoteRebuildPoll):
		}
		if _, err := remote.call(ctx, http.MethodGet, statusPath, nil, &st); err != nil {
			return err
		}
	}
	if output == "json" {
		if err := writeJSON(stdout, st); err != nil {
			return err
		}
	} else if st.Report != nil {
		printReport(stdout, *st.Report, st.ReportFile)
	}
	switch {
	case st.State == projections.JobFailed:
		return fmt.Errorf("rebuild %s of %s failed; the live read model is as it was: %s", st.ID, name, st.Error)
	case st.ReportError != "":
		return fmt.Errorf("rebuild %s of %s finished (swapped: %v), but its report could not be written on the server: %s", st.ID, name, st.Swapped, st.ReportError)
	}
	return nil
}

// remoteRebuildPoll is how often the CLI asks a server how its rebuild is going.
const remoteRebuildPoll = 500 * time.Millisecond
