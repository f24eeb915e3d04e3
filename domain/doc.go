// Package domain holds the rules of the partner technical-support benefits (R1–R23 in
// shared/domain-rules.md) as pure decisions over plain values: Decide(state, command,
// rules, now, ids) returns the events a command causes or a typed refusal (*Error), and
// Evolve folds one event into state. Time, IDs and the rules in force come from the
// caller, so replaying the same events always yields the same state.
//
// Aggregates and streams: a partner's whole benefit life (memberships, users,
// activation, contracts with their pools and links, incidents, paid plans) is ONE
// aggregate in stream "partner-<mpnId>". The pool counter and the decision to open an
// incident therefore live in one stream, and the store's expected revision prevents two
// concurrent incidents from over-drawing a pool. The versioned rules (R10) are the
// RuleBook aggregate in stream "rules-global".
//
// Reading: who may read a partner, see its Access ID and Contract ID, or read what an
// account holds with it is decided in access.go alone (CanRead, CanSeeContractIDs,
// CanReadAccount; R1, R2, R4), over the partner's users only (PartnerUsers).
//
// The package imports only the standard library.
package domain
