package domain

import (
	"time"
)

// RuleBook is the aggregate of the rules stream (R10): every published version, in
// order. Version 1 (DefaultRules) is implicit; the first published version is 2.
type RuleBook struct {
	Versions []Rules
}

// InForce is the latest version whose EffectiveFrom is at or before at; version 1 when
// no published version is in force yet.
func (b RuleBook) InForce(at time.Time) Rules {
	best := DefaultRules()
	for _, r := range b.Versions {
		if !r.EffectiveFrom.After(at) && r.Version > best.Version {
			best = r
		}
	}
	return best
}

// Latest is the highest version, in force or scheduled.
func (b RuleBook) Latest() Rules {
	if n := len(b.Versions); n > 0 {
		return b.Versions[n-1]
	}
	return DefaultRules()
}

// Version finds a version by number (1 is DefaultRules), for rebuilding read models
// with the rules that decided an event.
func (b RuleBook) Version(v int) (Rules, bool) {
	if v == 1 {
		return DefaultRules(), true
	}
	for _, r := range b.Versions {
		if r.Version == v {
			return r, true
		}
	}
	return Rules{}, false
}

// DecideRules decides a new rules version. Decisions (R10): the platform or ops
// publish (issue 4 gives publishing to the platform, issue 5 to ops as well); versions
// are numbered consecutively; a version takes effect now or later, never in the past
// (history keeps the meaning it was decided with), and not before the latest version.
func DecideRules(b RuleBook, c PublishRules, now time.Time) ([]Event, error) {
	now = now.UTC()
	if !c.By.HasSystemRole(SystemOps) && !c.By.HasSystemRole(SystemPlatform) {
		return nil, notAuthorized("only the platform or ops publish rules (R10)")
	}
	r := c.Rules
	if r.EffectiveFrom.IsZero() {
		r.EffectiveFrom = now
	}
	r.EffectiveFrom = r.EffectiveFrom.UTC()
	latest := b.Latest()
	switch {
	case r.Version != latest.Version+1:
		return nil, refusef(CodeConflict, "rules version %d: the next version is %d", r.Version, latest.Version+1)
	case r.EffectiveFrom.Before(now):
		return nil, refusef(CodeValidation, "rules cannot take effect in the past (%s is before %s)", r.EffectiveFrom.Format(time.RFC3339), now.Format(time.RFC3339))
	case r.EffectiveFrom.Before(latest.EffectiveFrom):
		return nil, refusef(CodeValidation, "rules version %d cannot take effect before version %d", r.Version, latest.Version)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return []Event{RulesPublished{EventMeta: EventMeta{OccurredAt: now, RulesVersion: r.Version}, Rules: r, PublishedBy: actorName(c.By)}}, nil
}

// EvolveRules adds a published version; other events leave the book as it is.
func EvolveRules(b RuleBook, e Event) RuleBook {
	if p, ok := e.(RulesPublished); ok {
		b.Versions = append(b.Versions[:len(b.Versions):len(b.Versions)], p.Rules)
	}
	return b
}

// FoldRules replays the rules stream.
func FoldRules(events []Event) RuleBook {
	var b RuleBook
	for _, e := range events {
		b = EvolveRules(b, e)
	}
	return b
}
