package metrics

import (
	"context"
	"errors"
	"time"

	"ledger/domain"
	"ledger/infra/commands"
)

// Command outcomes, the values of the outcome label of benefits_commands_total.
const (
	OutcomeAccepted  = "accepted"  // decided and appended
	OutcomeUnchanged = "unchanged" // idempotent: nothing new to record (R5, R17)
	OutcomeReplayed  = "replayed"  // recorded before under its Idempotency-Key: answered as then
	OutcomeRefused   = "refused"   // the domain said no (a rule)
	OutcomeConflict  = "conflict"  // lost the optimistic-concurrency race too often
	OutcomeCanceled  = "canceled"  // the caller went away
	OutcomeFailed    = "failed"    // the store or anything else failed
)

// CommandOutcome classifies what a command came to.
func CommandOutcome(out commands.Outcome, err error) string {
	var refusal *domain.Error
	switch {
	case err == nil && out.Replayed:
		return OutcomeReplayed
	case err == nil && len(out.Events) > 0:
		return OutcomeAccepted
	case err == nil:
		return OutcomeUnchanged
	case errors.As(err, &refusal), errors.Is(err, commands.ErrIdempotencyKeyReused):
		return OutcomeRefused
	case errors.Is(err, commands.ErrTooManyRetries):
		return OutcomeConflict
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return OutcomeCanceled
	default:
		return OutcomeFailed
	}
}

// ObserveCommand records one command by type (domain.Command.CommandName) and outcome.
func (m *Metrics) ObserveCommand(command, outcome string, elapsed time.Duration) {
	m.commands.WithLabelValues(command, outcome).Inc()
	m.commandDuration.WithLabelValues(command).Observe(elapsed.Seconds())
}

// Commands is a *commands.Executor whose Partner and Rules commands are counted; every
// other method (RulesAt, LoadPartner, ...) is the executor's own.
type Commands struct {
	*commands.Executor
	m *Metrics
}

// ObserveCommands wraps x.
func (m *Metrics) ObserveCommands(x *commands.Executor) *Commands {
	return &Commands{Executor: x, m: m}
}

// Partner runs the executor's Partner and counts it.
func (c *Commands) Partner(ctx context.Context, mpnID string, cmd domain.Command, meta commands.Meta) (commands.Outcome, error) {
	start := time.Now()
	out, err := c.Executor.Partner(ctx, mpnID, cmd, meta)
	c.m.ObserveCommand(cmd.CommandName(), CommandOutcome(out, err), time.Since(start))
	return out, err
}

// Rules runs the executor's Rules and counts it.
func (c *Commands) Rules(ctx context.Context, cmd domain.PublishRules, meta commands.Meta) (commands.Outcome, error) {
	start := time.Now()
	out, err := c.Executor.Rules(ctx, cmd, meta)
	c.m.ObserveCommand(cmd.CommandName(), CommandOutcome(out, err), time.Since(start))
	return out, err
}
