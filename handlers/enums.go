package handlers

import "ledger/domain"

// enumValues are the closed lists of values a body's text field takes, named by the
// field's `enum` tag (e.g. `enum:"level"`). The OpenAPI document lists them, so that a
// generated client refuses a value the domain would refuse; the lists themselves are
// the domain's.
var enumValues = map[string][]string{
	"level":       texts(domain.Levels()),
	"plan":        texts(domain.Plans()),
	"paidPlan":    texts(domain.PaidPlans()),
	"role":        texts(domain.Roles()),
	"accountType": texts(domain.AccountTypes()),
}

func texts[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
