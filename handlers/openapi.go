package handlers

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// echoParam matches an Echo path parameter (":mpnId").
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// OpenAPIPath turns an Echo path into an OpenAPI path template (/a/:id -> /a/{id}).
func OpenAPIPath(echoPath string) string {
	return echoParam.ReplaceAllString(echoPath, "{$1}")
}

// buildOpenAPI writes the OpenAPI 3.1 document of routes.
func buildOpenAPI(routes []Route, version string) ([]byte, error) {
	b := newSchemaBuilder()
	// Answers first: a type that is both an answer and (part of) a request keeps its Go
	// name for the answer and its request form is <Name>Input, whatever the route order.
	for _, r := range routes {
		if r.Response != nil {
			if _, err := b.ref(reflect.TypeOf(r.Response), answer); err != nil {
				return nil, fmt.Errorf("openapi: %s %s: %w", r.Method, r.Path, err)
			}
		}
	}
	paths := map[string]map[string]any{}
	for _, r := range routes {
		op, err := operation(b, r)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s %s: %w", r.Method, r.Path, err)
		}
		p := OpenAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.Method)] = op
	}
	b.components["Problem"] = problemSchema()
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Partner-benefits ledger API",
			"version":     version,
			"description": "Errors are RFC 9457 problems with a stable code. Commands answer with the global position of their last event; queries accept it as minPosition (read-your-writes).",
			"license":     map[string]any{"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
		},
		// Relative: the API is where this document was fetched from (benefits serve, any role).
		"servers": []any{map[string]any{"url": "/", "description": "the server that serves this document"}},
		"tags":    documentTags(routes),
		"paths":   paths,
		// Every route needs a bearer token unless it says otherwise (security: []).
		"security": []any{map[string]any{"bearer": []any{}}},
		"components": map[string]any{
			"schemas": b.components,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256)"},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// Tags group the operations by what they are for; tagOf says which a route is in.
var tagDescriptions = map[string]string{
	"commands": "Change the ledger: each command appends events and answers their position",
	"queries":  "Read models, eventually consistent; minPosition waits for a command's position",
	"audit":    "The event log itself: verification, history, state as of a moment (auditor)",
	"ops":      "Projections: overview and rebuilds (ops)",
	"rules":    "Rules versions (R10)",
	"system":   "Health, readiness, metrics and this document",
}

func tagOf(r Route) string {
	switch {
	case r.Public:
		return "system"
	case strings.HasPrefix(r.Path, "/v1/audit"):
		return "audit"
	case strings.HasPrefix(r.Path, "/v1/ops"):
		return "ops"
	case strings.HasPrefix(r.Path, "/v1/rules") && r.Method == http.MethodGet:
		return "rules"
	case r.Projection != "":
		return "queries"
	case r.Method != http.MethodGet:
		return "commands"
	}
	return "system"
}

func documentTags(routes []Route) []any {
	used := map[string]bool{}
	for _, r := range routes {
		used[tagOf(r)] = true
	}
	var tags []any
	for _, name := range slices.Sorted(maps.Keys(used)) {
		tags = append(tags, map[string]any{"name": name, "description": tagDescriptions[name]})
	}
	return tags
}

func operation(b *schemaBuilder, r Route) (map[string]any, error) {
	op := map[string]any{"summary": r.Summary, "operationId": operationID(r), "tags": []string{tagOf(r)}}
	params := []any{}
	pathParams := echoParam.FindAllStringSubmatch(r.Path, -1)
	for _, m := range pathParams {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	responses := map[string]any{"default": problemResponse("An RFC 9457 problem; switch on its code"),
		"400": problemResponse("bad_request: " + badQuery + "; field names the parameter")}
	for _, q := range r.Query {
		params = append(params, q.document())
	}
	if len(r.Query) > 0 {
		responses["400"] = problemResponse("bad_request: " + badQuery + ", or a query parameter's value outside its schema (a limit out of range, a cursor this list did not hand out); field names the parameter")
	}
	if r.Request != nil {
		s, err := b.ref(reflect.TypeOf(r.Request), request)
		if err != nil {
			return nil, err
		}
		op["requestBody"] = map[string]any{"required": true,
			"description": "JSON, at most 64 KiB, one object. Refused with 400: " + badBody,
			"content":     map[string]any{"application/json": map[string]any{"schema": s}}}
		responses["400"] = problemResponse("bad_request: " + badBody + "; or " + badQuery + "; field names the culprit")
		responses["413"] = problemResponse("payload_too_large: body over 64 KiB")
		responses["415"] = problemResponse("unsupported_media_type: the body is not application/json")
	}
	success := map[string]any{"description": http.StatusText(http.StatusOK)}
	if r.Response != nil {
		s, err := b.ref(reflect.TypeOf(r.Response), answer)
		if err != nil {
			return nil, err
		}
		success["content"] = map[string]any{"application/json": map[string]any{"schema": s}}
	}
	if r.ResponseType != "" {
		success["content"] = map[string]any{r.ResponseType: map[string]any{"schema": map[string]any{"type": "string"}}}
	}
	if r.Location {
		success["headers"] = map[string]any{echo.HeaderLocation: map[string]any{
			"description": "Where to follow what the request started", "schema": map[string]any{"type": "string"}}}
	}
	if r.Projection != "" {
		pos := minPositionParam.schema()
		params = append(params, minPositionParam.document(),
			map[string]any{"name": HeaderMinPosition, "in": "header", "schema": pos,
				"description": "Same as the minPosition query parameter"})
		success["headers"] = map[string]any{HeaderProjectionPosition: map[string]any{
			"description": "The read model reflects every event up to this position", "schema": pos}}
		op["x-projection"] = r.Projection
	}
	keyed := tagOf(r) == "commands" && !r.NoIdempotencyKey
	if keyed {
		params = append(params, idempotencyKeyParam())
		headers, _ := success["headers"].(map[string]any)
		headers = maps.Clone(headers)
		if headers == nil {
			headers = map[string]any{}
		}
		headers[HeaderIdempotentReplayed] = map[string]any{"schema": map[string]any{"type": "string", "enum": []string{"true"}},
			"description": "The command was recorded before under the request's Idempotency-Key: this answers it again (its IDs and position), and nothing new was recorded"}
		success["headers"] = headers
	}
	for _, st := range r.successStatuses() {
		s := maps.Clone(success)
		s["description"] = http.StatusText(st)
		responses[strconv.Itoa(st)] = s
	}
	if len(pathParams) > 0 && !r.Public {
		responses["404"] = problemResponse("not_found: nothing by that name")
	}
	if r.Method != http.MethodGet && !r.Public {
		responses["503"] = problemResponse("store_unavailable: the event store cannot record changes now (disk full, locked, unreachable); retry after Retry-After")
	}
	if tagOf(r) == "commands" {
		documentRefusals(responses)
	}
	if keyed {
		responses["422"] = problemResponse(responses["422"].(map[string]any)["description"].(string) +
			"; or " + CodeIdempotencyKeyReused + ": the Idempotency-Key was sent before with a different request (nothing recorded)")
	}
	if r.Public {
		op["security"] = []any{}
	} else {
		responses["401"] = problemResponse("unauthenticated: missing, invalid or expired token")
		responses["503"] = problemResponse(unavailableOf(r))
		if len(r.Roles) > 0 {
			op["x-roles"] = r.Roles
			responses["403"] = problemResponse("forbidden: needs one of " + joinRoles(r.Roles))
		}
	}
	for status, desc := range r.Problems {
		responses[strconv.Itoa(status)] = problemResponse(desc)
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	op["responses"] = responses
	return op, nil
}

// documentRefusals adds the domain's refusals to a command's responses, by status, with
// the codes each status carries (domain_errors.go).
func documentRefusals(responses map[string]any) {
	for _, status := range domainStatuses() {
		key := strconv.Itoa(status)
		desc := "a rule refused the command; code is one of " + strings.Join(domainCodesBy(status), ", ")
		if prev, ok := responses[key].(map[string]any); ok {
			desc = prev["description"].(string) + "; or " + desc
		}
		responses[key] = problemResponse(desc)
	}
}

// What a 400 answers, as the document tells it (Bind and refuseMalformedQuery).
const (
	badBody = "malformed JSON or data after the object, a member name given twice, a string that is not valid " +
		"UTF-8 (raw bytes or a lone surrogate escape), a control character in text (only multiline fields accept " +
		"TAB, LF and CR; see each string's pattern), text over its field's maxLength (in characters), an unknown, " +
		"missing or mistyped field"
	badQuery = "a malformed query string (a ';', a bad %-escape, a parameter given twice, a control character)"
)

func operationID(r Route) string {
	parts := []string{strings.ToLower(r.Method)}
	for seg := range strings.SplitSeq(strings.Trim(r.Path, "/"), "/") {
		if name, ok := strings.CutPrefix(seg, ":"); ok {
			seg = "by-" + name
		}
		parts = append(parts, seg)
	}
	return strings.Join(parts, "_")
}

func problemResponse(desc string) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{
		ProblemContentType: map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
}

func problemSchema() map[string]any {
	return map[string]any{
		"type":     "object",
		"required": []string{"type", "title", "status", "code"},
		"properties": map[string]any{
			"type":          map[string]any{"type": "string", "format": "uri-reference"},
			"title":         map[string]any{"type": "string"},
			"status":        map[string]any{"type": "integer"},
			"detail":        map[string]any{"type": "string"},
			"code":          map[string]any{"type": "string", "enum": problemCodes(), "description": "stable machine-readable code"},
			"instance":      map[string]any{"type": "string", "format": "uri-reference"},
			"correlationId": map[string]any{"type": "string"},
			"field":         map[string]any{"type": "string", "description": "the offending request field, on bad_request"},
			"remaining":     map[string]any{"type": "integer", "description": "the incidents left in the pool, on pool_exhausted (R22)"},
		},
		"additionalProperties": true,
	}
}

// unavailableOf describes a route's 503s: every bounded route may be overloaded
// (InFlightLimits), a query may also find its read model behind.
func unavailableOf(r Route) string {
	overloaded := "overloaded: too many requests in flight; retry after the Retry-After header's seconds"
	if r.Projection != "" {
		return "projection_behind: the read model did not reach minPosition in time; or " + overloaded
	}
	return overloaded
}

// idempotencyKeyParam documents the Idempotency-Key header of a command (idempotency_key.go).
func idempotencyKeyParam() map[string]any {
	return map[string]any{"name": HeaderIdempotencyKey, "in": "header", "required": false,
		"schema": map[string]any{"type": "string", "minLength": 1, "maxLength": MaxIdempotencyKeyLength, "pattern": `^"?[ !#-\[\]-~]+"?$`},
		"description": "A key unique to this request (a UUID, say), to retry it safely: sent again with the same request " +
			"it answers as the first time, with Idempotent-Replayed: true, and records nothing (to a caller who may read the " +
			"partner; 403 otherwise); sent with another request, 422 " + CodeIdempotencyKeyReused + ". Requests are compared " +
			"without their personal data (user and customer IDs, the caller's included), which the stored digest leaves out. " +
			"A partner (or the rules stream) remembers the keys of at least its last 1,000 recorded commands of the last 24 " +
			"hours. A refused command recorded nothing and is decided again. The key may be quoted, as a structured-field " +
			"string. Malformed (empty, too long, not printable ASCII, sent twice): 400, field Idempotency-Key"}
}
