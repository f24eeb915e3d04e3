package handlers

import "net/http"

// Refusal is a rule refusal from the domain, in the terms the HTTP layer needs. The
// domain returns its own *domain.Error; the wiring translates it through
// Deps.DomainError so that this package imports no domain types and route authors only
// return the error they got.
type Refusal struct {
	Code    string
	Message string
	// Extra members for the problem body, e.g. {"remaining": 0} for pool_exhausted.
	Extra map[string]any
}

// DomainErrorFunc recognises a domain error and says what it means; ok is false for
// any other error.
type DomainErrorFunc func(err error) (r Refusal, ok bool)

// domainStatus is the HTTP status of each domain code. It is data on purpose: a new
// domain code is one line here, and a code missing here still answers 422 (a refusal
// of a well-formed request), never 500. The reading behind each choice:
//   - 400: the request itself is wrong however the ledger stands (same as bad_request).
//   - 403: the caller may not do this (R1, R2, R4, R19), or the partner does not hold
//     this kind of support or plan at all (R9, R15, R20, R21).
//   - 404: the thing named does not exist.
//   - 409: the request is fine but the ledger's current state refuses it; it may
//     succeed later or after another command (R3, R13, R18, R22, R23).
//   - 422: the request is well-formed but names something the rules exclude, or lacks
//     what they demand (R11, R12, R16).
var domainStatus = map[string]int{
	"validation":           http.StatusBadRequest,
	"not_authorized":       http.StatusForbidden,
	"no_cloud_support":     http.StatusForbidden,
	"no_support_plan":      http.StatusForbidden,
	"not_found":            http.StatusNotFound,
	"no_benefits_yet":      http.StatusConflict,
	"not_activated":        http.StatusConflict,
	"contract_expired":     http.StatusConflict,
	"contract_exhausted":   http.StatusConflict,
	"pool_exhausted":       http.StatusConflict,
	"conflict":             http.StatusConflict,
	"invalid_access_id":    http.StatusUnprocessableEntity,
	"product_not_eligible": http.StatusUnprocessableEntity,
	"contract_not_linked":  http.StatusUnprocessableEntity,
}

// unknownDomainCodeStatus answers a domain code that is not in domainStatus.
const unknownDomainCodeStatus = http.StatusUnprocessableEntity

// DomainStatus tells the HTTP status a domain code answers with, and whether the code
// is known; the OpenAPI document and tests use it.
func DomainStatus(code string) (int, bool) {
	s, ok := domainStatus[code]
	if !ok {
		return unknownDomainCodeStatus, false
	}
	return s, true
}

func (r Refusal) problem() *Problem {
	status, _ := DomainStatus(r.Code)
	p := NewProblem(status, r.Code, r.Message)
	for k, v := range r.Extra {
		p = p.With(k, v)
	}
	return p
}
