package domain

import "fmt"

// Code is the stable, machine-readable reason of a refusal. The HTTP API maps codes to
// statuses; clients match on them, so they never change once published.
type Code string

const (
	CodeNotAuthorized      Code = "not_authorized"       // R1, R2, R19 and command permissions
	CodeNoBenefitsYet      Code = "no_benefits_yet"      // R3
	CodeNotActivated       Code = "not_activated"        // benefit not activated yet
	CodeInvalidAccessID    Code = "invalid_access_id"    // R12: IDs do not match an activated contract
	CodeNotLinked          Code = "contract_not_linked"  // R12/R16: IDs needed the first time
	CodeContractExpired    Code = "contract_expired"     // R13, R18, R23
	CodeContractExhausted  Code = "contract_exhausted"   // R13, R18
	CodePoolExhausted      Code = "pool_exhausted"       // R22
	CodeProductNotEligible Code = "product_not_eligible" // R11, R16, R20, R21
	CodeNoCloudSupport     Code = "no_cloud_support"     // R9, R15
	CodeNoSupportPlan      Code = "no_support_plan"      // R20, R21: plan not held
	CodeValidation         Code = "validation"           // malformed command or rules
	CodeNotFound           Code = "not_found"            // partner/user/membership/incident unknown
	CodeConflict           Code = "conflict"             // e.g. enrolling twice, stale rules version
)

// The article's own words, reused as messages (R2, R3).
const (
	MsgNotAuthorized = "You are not authorized for this action"
	MsgNoBenefitsYet = "It looks like you don't have benefits yet"
)

// Error is a refusal: the command was understood and decided against. Decide returns it
// as *Error; match with errors.As, or errors.Is(err, &Error{Code: c}) to test a code.
type Error struct {
	Code    Code
	Message string
	// Remaining is set for pool_exhausted: the incidents left in the pool (0).
	Remaining *int
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is makes errors.Is(err, &Error{Code: c}) true for any refusal with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

func refuse(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

func refusef(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func notAuthorized(why string) *Error { return refuse(CodeNotAuthorized, MsgNotAuthorized+": "+why) }
