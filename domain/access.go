package domain

// Who may read what of a partner (R1, R2, R4). This file is the one home of the read
// rules: the API asks these functions and decides nothing of its own.
//
// R4, shared accounts (decision): a user account may be registered with more than one
// partner (an MSA account, an AAD guest), and registering an account that another
// partner already registered is allowed. Each partner's data is read only under that
// partner's own users: registering an account gives the registering partner no view of
// what the account holds with any other partner, and the account's roles and MPN link
// in one partner count only there. An admin reads an account's plans only with the
// partners where the admin itself is an MPN-linked global admin or MPN partner admin.

// PartnerUsers is what the read rules need of a partner: its MPN ID and its user
// accounts by ID. It is kept this small so it can come from a fold of the partner's
// stream or from a cache of the partner's users.
type PartnerUsers struct {
	MPNID    string
	UserByID map[string]User
}

// PartnerUsers is the part of the state the read rules decide on. The map is shared
// with s: treat it as read-only, like the rest of a Partner.
func (s Partner) PartnerUsers() PartnerUsers {
	return PartnerUsers{MPNID: s.MPNID, UserByID: s.UserByID}
}

// ReadsEverything: auditors and the platform read every partner's data, the Access ID
// and Contract ID included (R4's "system roles"). Ops does not.
func (a Actor) ReadsEverything() bool {
	return a.HasSystemRole(SystemAuditor) || a.HasSystemRole(SystemPlatform)
}

// TransparencyLogReaders are the system roles that read the transparency log (issue
// 14): its signed checkpoints, inclusion and consistency proofs and its public key, and
// that may ask for a fresh checkpoint. Auditors check the log against checkpoints they
// keep; the platform publishes the log's checkpoints to its witnesses and partners.
// Ops runs the service and is left out on purpose: whoever runs the store must not be
// the one the checks rely on. Partner users are refused: a proof carries other
// partners' events.
var TransparencyLogReaders = []string{SystemAuditor, SystemPlatform}

// DeadLetterReaders are the system roles that read the read models' dead letters (the
// events a projection could not apply, with their data): ops, who resolve them, and
// auditors, who check what was resolved and why. The platform has no business there.
var DeadLetterReaders = []string{SystemOps, SystemAuditor}

// DeadLetterResolvers are the system roles that retry or discard a dead letter: ops
// alone. An auditor reads and decides nothing.
var DeadLetterResolvers = []string{SystemOps}

// linkedToMPN: the account is linked to the partner's MPN account, and not only to CSP
// (R2). It is what R1's admins and R4's readers of the IDs have in common.
func (u User) linkedToMPN() bool { return u.MPNLinked && !u.CSPOnly }

// SeesContractIDs reports whether the account sees the partner's Access ID and Contract
// ID: only MPN-linked accounts do (R4); a CSP-only account never does (R2).
func (u User) SeesContractIDs() bool { return u.linkedToMPN() }

// CanRead decides whether the actor may read partner p's data at all: a system reader,
// or an account registered with p. It does not decide the IDs: see CanSeeContractIDs.
func CanRead(a Actor, p PartnerUsers) error {
	if a.ReadsEverything() {
		return nil
	}
	if _, ok := p.UserByID[a.UserID]; !ok {
		return refusef(CodeNotAuthorized, "account %s is not a user of partner %s; partner users read only their own partner's data", a.UserID, p.MPNID)
	}
	return nil
}

// CanSeeContractIDs decides whether the actor may see partner p's Access ID and
// Contract ID, wherever they appear (R4): a system reader, or an MPN-linked account
// registered with p. Routes that exist to show the IDs refuse anyone else; routes that
// merely carry them leave them out.
func CanSeeContractIDs(a Actor, p PartnerUsers) error {
	if err := CanRead(a, p); err != nil {
		return err
	}
	if a.ReadsEverything() || p.UserByID[a.UserID].SeesContractIDs() {
		return nil
	}
	return refusef(CodeNotAuthorized, "account %s is not linked to the MPN account of partner %s; only MPN-linked accounts see its Access ID and Contract ID (R4)", a.UserID, p.MPNID)
}

// CanReadAccount decides whether the actor may read what account userID holds with
// partner p, such as its support plans (R14): the account itself, a system reader, or
// an MPN-linked global admin or MPN partner admin of p (R1). Under the shared-account
// decision above, an admin of another partner that registered the same account reads
// nothing of p.
func CanReadAccount(a Actor, p PartnerUsers, userID string) error {
	if a.ReadsEverything() {
		return nil
	}
	if _, ok := p.UserByID[userID]; !ok {
		return refusef(CodeNotAuthorized, "account %s is not a user of partner %s", userID, p.MPNID)
	}
	if a.UserID == userID {
		return nil
	}
	if me, ok := p.UserByID[a.UserID]; ok && me.isAdmin() {
		return nil
	}
	return refusef(CodeNotAuthorized, "account %s reads what account %s holds with partner %s only as that account or as an MPN-linked admin of the partner (R1, R4)",
		a.UserID, userID, p.MPNID)
}

// PrivacyErasers are the system roles that may erase a subject's personal data
// (crypto-shredding, issue 14): the platform, which answers data subjects' requests.
// Auditors only read; ops runs the store and must not be able to rewrite what the
// ledger can still show.
var PrivacyErasers = []string{SystemPlatform}
