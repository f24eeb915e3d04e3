package handlers

import (
	"maps"
	"net/http"
	"slices"

	"ledger/domain"
)

// domainStatus is the HTTP status of each domain refusal code. It is data on purpose: a
// new domain code is one line here, and a code missing here still answers 422 (a
// refusal of a well-formed request), never 500. The reading behind each choice:
//   - 400: the request itself is wrong however the ledger stands (same as bad_request).
//   - 403: the caller may not do this (R1, R2, R4, R19), or the partner does not hold
//     this kind of support or plan at all (R9, R15, R20, R21).
//   - 404: the thing named does not exist.
//   - 409: the request is fine but the ledger's current state refuses it; it may
//     succeed later or after another command (R3, R13, R18, R22, R23).
//   - 422: the request is well-formed but names something the rules exclude, or lacks
//     what they demand (R11, R12, R16).
var domainStatus = map[domain.Code]int{
	domain.CodeValidation:         http.StatusBadRequest,
	domain.CodeNotAuthorized:      http.StatusForbidden,
	domain.CodeNoCloudSupport:     http.StatusForbidden,
	domain.CodeNoSupportPlan:      http.StatusForbidden,
	domain.CodeNotFound:           http.StatusNotFound,
	domain.CodeNoBenefitsYet:      http.StatusConflict,
	domain.CodeNotActivated:       http.StatusConflict,
	domain.CodeContractExpired:    http.StatusConflict,
	domain.CodeContractExhausted:  http.StatusConflict,
	domain.CodePoolExhausted:      http.StatusConflict,
	domain.CodeConflict:           http.StatusConflict,
	domain.CodeInvalidAccessID:    http.StatusUnprocessableEntity,
	domain.CodeProductNotEligible: http.StatusUnprocessableEntity,
	domain.CodeNotLinked:          http.StatusUnprocessableEntity,
}

// unknownDomainCodeStatus answers a domain code that is not in domainStatus.
const unknownDomainCodeStatus = http.StatusUnprocessableEntity

// DomainStatus tells the HTTP status a domain code answers with, and whether the code
// is known.
func DomainStatus(code domain.Code) (int, bool) {
	s, ok := domainStatus[code]
	if !ok {
		return unknownDomainCodeStatus, false
	}
	return s, true
}

// domainProblem is the problem of a domain refusal: the status from the table, the
// domain's code and message, and what the refusal carries beside them.
func domainProblem(e *domain.Error) *Problem {
	status, _ := DomainStatus(e.Code)
	p := NewProblem(status, string(e.Code), e.Message)
	if e.Remaining != nil {
		p = p.With("remaining", *e.Remaining)
	}
	return p
}

// domainCodesBy lists, sorted, the domain codes answering with status (for the
// document's refusal responses).
func domainCodesBy(status int) []string {
	var codes []string
	for code, s := range domainStatus {
		if s == status {
			codes = append(codes, string(code))
		}
	}
	slices.Sort(codes)
	return codes
}

// domainStatuses lists, sorted, every status a domain refusal answers with.
func domainStatuses() []int {
	statuses := slices.Sorted(maps.Values(domainStatus))
	return slices.Compact(statuses)
}
