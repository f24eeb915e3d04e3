package commands

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// rulesWithout is the default rules as version v, in force from now, without the
// on-premises product name/version (nil keeps every product).
func rulesWithout(v int, name, version string) domain.Rules {
	r := domain.DefaultRules()
	r.Version, r.EffectiveFrom = v, now
	r.Products = slices.DeleteFunc(slices.Clone(r.Products), func(p domain.Product) bool { return p.Name == name && p.Version == version })
	return r
}

// onAStaleRuleBook has executor a publish kept and set up an action-pack partner mpn on
// it, then executor b (another process on the same store) publish published: a's rule
// book is stale, and it has not read the rules since.
func onAStaleRuleBook(t *testing.T, store eventstore.Store, mpn string, kept, published domain.Rules) (_ eventstore.Store, a *Executor, admin domain.Actor, contract string) {
	t.Helper()
	clock := WithClock(func() time.Time { return now })
	a, b := New(store, clock), New(store, clock)
	publishRules(t, a, kept)
	admin, contract = actionPackPartner(t, a, mpn)
	publishRules(t, b, published)
	return store, a, admin, contract
}

func publishRules(t *testing.T, x *Executor, r domain.Rules) {
	t.Helper()
	ops := domain.Actor{UserID: "ops", SystemRoles: []string{domain.SystemOps}}
	if _, err := x.Rules(context.Background(), domain.PublishRules{By: ops, Rules: r}, Meta{Actor: ops}); err != nil {
		t.Fatalf("publish rules v%d: %v", r.Version, err)
	}
}

// Executor A keeps rules version 2, under which SQL Server 2025 is supported; executor
// B (another process) publishes version 3 without it. A, asked for an incident on SQL
// Server 2025, must not store it on its stale rule book: the rules stream is not the
// partner's, so only a guard on A's append (or a read before deciding) catches it.
func TestCommandOnAStaleRuleBookIsDecidedUnderTheRulesInTheStore(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			const mpn = "4714001"
			store, a, admin, contract := onAStaleRuleBook(t, open(t), mpn, rulesWithout(2, "", ""), rulesWithout(3, "SQL Server", "2025"))
			ctx := context.Background()
			before := len(readEvents(t, store, domain.PartnerStream(mpn)))
			_, err := a.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin})
			if de := (*domain.Error)(nil); !errors.As(err, &de) || de.Code != domain.CodeProductNotEligible {
				t.Fatalf("incident on SQL Server 2025 after B withdrew it: %v, want product_not_eligible", err)
			}
			if after := len(readEvents(t, store, domain.PartnerStream(mpn))); after != before {
				t.Fatalf("the partner stream grew from %d to %d events under rules that refuse the command", before, after)
			}
		})
	}
}

// Executor A keeps rules version 2, without SQL Server 2025; executor B publishes
// version 3 with it again. A's incident on SQL Server 2025, refused on its stale rule
// book, has no append to prove that book current: A must read the rules stream before
// answering and decide again (a refusal is answered only on the store's rules).
func TestRefusalOnAStaleRuleBookIsRecheckedAgainstTheStore(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			const mpn = "4714002"
			store, a, admin, contract := onAStaleRuleBook(t, open(t), mpn, rulesWithout(2, "SQL Server", "2025"), rulesWithout(3, "", ""))
			ctx := context.Background()
			out, err := a.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin})
			if err != nil || len(out.Events) != 1 || out.Rules.Version != 3 {
				t.Fatalf("incident on SQL Server 2025 after B restored it: %d events under rules v%d, %v; want it opened under v3", len(out.Events), out.Rules.Version, err)
			}
			if got := domain.Fold(readEvents(t, store, domain.PartnerStream(mpn))).IncidentCount; got != 1 {
				t.Fatalf("%d incidents stored, want 1", got)
			}
		})
	}
}

// On a store that guards appends, a batch on a kept partner is decided on the kept
// rule book: neither the partner's stream nor the rules stream is read first.
func TestCommandOnAKeptStateReadsNeitherItsStreamNorTheRules(t *testing.T) {
	counter := &streamReadCounter{Store: stores(t)["sqlite"](t), reads: map[string]int{}}
	store := guardingReadCounter{counter}
	ctx := context.Background()
	x := New(store, WithClock(func() time.Time { return now }))
	const mpn = "4714003"
	admin, contract := actionPackPartner(t, x, mpn)
	partnerReads, rulesReads := counter.readsOf(domain.PartnerStream(mpn)), counter.readsOf(domain.RulesStream)
	for range 5 {
		if _, err := x.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	if p, r := counter.readsOf(domain.PartnerStream(mpn))-partnerReads, counter.readsOf(domain.RulesStream)-rulesReads; p != 0 || r != 0 {
		t.Fatalf("5 commands on a kept partner read its stream %d times and the rules %d times, want 0 and 0", p, r)
	}
}

// guardingReadCounter is the read counter with the guarded appends of the store under it.
type guardingReadCounter struct{ *streamReadCounter }

func (g guardingReadCounter) AppendGuarded(ctx context.Context, stream string, expected eventstore.ExpectedRevision, guard eventstore.Guard, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return g.Store.(eventstore.GuardedAppender).AppendGuarded(ctx, stream, expected, guard, events...)
}
