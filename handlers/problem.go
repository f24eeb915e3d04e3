package handlers

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
)

// ProblemContentType is the media type of every error body (RFC 9457).
const ProblemContentType = "application/problem+json"

// Stable problem codes the HTTP layer itself produces. Rule refusals carry the domain's
// codes instead (see domain_errors.go). Clients switch on code, never on title or detail.
const (
	CodeBadRequest           = "bad_request"
	CodeUnauthenticated      = "unauthenticated"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeConflict             = "conflict"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeProjectionBehind     = "projection_behind"
	CodeNotReady             = "not_ready"
	CodeStoreUnavailable     = "store_unavailable"
	CodeStreamTruncated      = "stream_truncated"
	CodeOverloaded           = "overloaded"
	CodeInternal             = "internal"
	// CodeRetryRefused: a read model refused a dead-lettered event again; it stays open.
	CodeRetryRefused = "retry_refused"
)

// httpCodes are the codes above, for the document's list of every code.
var httpCodes = []string{CodeBadRequest, CodeUnauthenticated, CodeForbidden, CodeNotFound, CodeMethodNotAllowed,
	CodeConflict, CodePayloadTooLarge, CodeUnsupportedMediaType, CodeProjectionBehind, CodeNotReady,
	CodeStoreUnavailable, CodeStreamTruncated, CodeOverloaded, CodeRetryRefused, CodeIdempotencyKeyReused, CodeInternal}

// problemCodes lists, sorted, every code a problem can carry: the HTTP layer's and the
// domain's refusals.
func problemCodes() []string {
	codes := slices.Clone(httpCodes)
	for code := range domainStatus {
		codes = append(codes, string(code))
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

// problemTypeBase prefixes the code to form the problem "type" URI reference. A relative
// reference is allowed by RFC 9457 §3.1.1 and keeps the API free of a made-up host name.
const problemTypeBase = "/problems/"

// Problem is an RFC 9457 problem detail and also an error a handler can return: the
// central error handler writes it as it is. Extra members (e.g. "remaining") sit beside
// the standard ones in the JSON object.
type Problem struct {
	Type     string
	Title    string
	Status   int
	Detail   string
	Code     string
	Instance string
	Extra    map[string]any
	// RetryAfter, when set, is sent as the Retry-After header (whole seconds, rounded
	// up), not in the body: the problem is temporary and this is when to try again.
	RetryAfter time.Duration
}

// NewProblem builds a problem with the title taken from the status.
func NewProblem(status int, code, detail string) *Problem {
	return &Problem{
		Type:   problemTypeBase + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
}

// Problemf is NewProblem with a formatted detail.
func Problemf(status int, code, format string, args ...any) *Problem {
	return NewProblem(status, code, fmt.Sprintf(format, args...))
}

// With returns a copy of p with one more extension member.
func (p *Problem) With(key string, value any) *Problem {
	q := *p
	q.Extra = maps.Clone(p.Extra)
	if q.Extra == nil {
		q.Extra = map[string]any{}
	}
	q.Extra[key] = value
	return &q
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
}

// reserved are the members an extension may not overwrite.
var reserved = map[string]bool{"type": true, "title": true, "status": true, "detail": true, "code": true, "instance": true}

// MarshalJSON flattens Extra beside the standard members.
func (p *Problem) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(p.Extra)+6)
	for k, v := range p.Extra {
		if !reserved[k] {
			out[k] = v
		}
	}
	out["type"] = p.Type
	out["title"] = p.Title
	out["status"] = p.Status
	out["code"] = p.Code
	if p.Detail != "" {
		out["detail"] = p.Detail
	}
	if p.Instance != "" {
		out["instance"] = p.Instance
	}
	return json.Marshal(out)
}

// UnmarshalJSON is the inverse of MarshalJSON, so clients and tests in Go can read problems.
func (p *Problem) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*p = Problem{}
	fields := map[string]any{"type": &p.Type, "title": &p.Title, "status": &p.Status,
		"detail": &p.Detail, "code": &p.Code, "instance": &p.Instance}
	for k, v := range raw {
		if dst, ok := fields[k]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("problem member %q: %w", k, err)
			}
			continue
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		if p.Extra == nil {
			p.Extra = map[string]any{}
		}
		p.Extra[k] = x
	}
	return nil
}
