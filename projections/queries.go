package projections

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
	"ledger/infra/sqldb"
)

// ReadModels answers the API's queries from the read models. It reads the logical
// names (views over the live generation), so it keeps answering while a rebuild fills
// the next generation. Every answer is a JSON-ready value in the shape of the HTTP API;
// the Render functions give the same values from a domain.Partner, for as-of answers.
type ReadModels struct {
	db        bun.IDB
	remaining preparedQuery
	answers   *AnswerCache // of RemainingIncidentsJSON; nil keeps none
	stamps    *Checkpoints // tells when a partner's rows changed (PartnerStamp), for answers
}

// ReadModelsOption is an option of NewReadModels.
type ReadModelsOption func(*ReadModels)

// KeepAnswers keeps the encoded answers of RemainingIncidentsJSON in up to maxBytes (see
// AnswerCache; zero or less keeps none), each as long as stamps' PartnerStamp of its
// partner stays where it was when it was read: stamps must be the Checkpoints the
// queries wait on (the runner's in a projector process). Without stamps none is kept.
func KeepAnswers(maxBytes int64, stamps *Checkpoints) ReadModelsOption {
	return func(rm *ReadModels) {
		if stamps != nil {
			rm.answers, rm.stamps = NewAnswerCache(maxBytes), stamps
		}
	}
}

// NewReadModels reads from db, the read database the runner writes.
func NewReadModels(db bun.IDB, opts ...ReadModelsOption) *ReadModels {
	rm := &ReadModels{db: db, remaining: newPreparedQuery(db, remainingIncidentsSQL)}
	for _, o := range opts {
		o(rm)
	}
	return rm
}

// Answers is the cache of encoded answers (nil when none is kept).
func (rm *ReadModels) Answers() *AnswerCache { return rm.answers }

// ErrNotFound: no such partner or account in the read model.
var ErrNotFound = errors.New("not found")

// ErrBadStatusFilter: an incident status filter other than "", open or closed.
var ErrBadStatusFilter = errors.New("incident status filter must be open or closed")

// RemainingIncidents answers GET /v1/partners/{mpnId}/remaining-incidents as of now:
// a contract outside its window is "expired" and one whose every pool is used up is
// "exhausted", both decided at this moment from the stored figures (R13, R14, R22).
// Reads RemainingIncidentsName.
func (rm *ReadModels) RemainingIncidents(ctx context.Context, mpnID string, now time.Time) (RemainingIncidents, error) {
	p, err := rm.remainingContracts(ctx, mpnID)
	if err != nil {
		return RemainingIncidents{}, err
	}
	return RenderRemainingIncidents(p, now), nil
}

// RemainingIncidentsJSON is RemainingIncidents encoded as the API answers it, with the
// Contract IDs only when revealIDs (R4). Called once the query waited for its position
// (Checkpoints.WaitForPartner), it serves an answer kept from a read at mpnID's current
// stamp (Checkpoints.PartnerStamp: no commit touched mpnID since), still true at now,
// without reading (AnswerCache); otherwise the rows are read, and the answers kept.
func (rm *ReadModels) RemainingIncidentsJSON(ctx context.Context, mpnID string, now time.Time, revealIDs bool) ([]byte, error) {
	answers, at := rm.answersAt(mpnID)
	if body, ok := answers.get(mpnID, at, now, revealIDs); ok {
		return body, nil
	}
	read, forgets := time.Now(), answers.begin()
	p, err := rm.remainingContracts(ctx, mpnID)
	if err != nil {
		return nil, err
	}
	answer := RenderRemainingIncidents(p, now)
	if answers == nil { // none kept: encode only the answer asked for
		if !revealIDs {
			answer = answer.WithoutContractIDs()
		}
		return encodeAnswer(answer)
	}
	kept := cachedAnswer{stamp: at, read: read, forgets: forgets}
	kept.since, kept.until = p.ContractsSteady(now)
	if kept.full, err = encodeAnswer(answer); err != nil {
		return nil, err
	}
	if kept.redacted, err = encodeAnswer(answer.WithoutContractIDs()); err != nil {
		return nil, err
	}
	answers.put(mpnID, kept)
	if revealIDs {
		return kept.full, nil
	}
	return kept.redacted, nil
}

// answersAt is where to look mpnID's answers up and keep them, and at which stamp: no
// cache when none is kept, or when which partners the last commit of mpnID's partition
// touched is not told yet (read, and keep nothing).
func (rm *ReadModels) answersAt(mpnID string) (*AnswerCache, eventstore.Position) {
	if rm.answers == nil {
		return nil, eventstore.Start
	}
	at, settled := rm.stamps.PartnerStamp(RemainingIncidentsName, mpnID)
	if !settled {
		rm.answers.unsettled()
		return nil, at
	}
	return rm.answers, at
}

// encodeAnswer is v as the API's JSON answers encode it (Echo's: json.Encoder, with its
// newline).
func encodeAnswer(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b.Bytes(), nil
}

// remainingContracts reads the contracts and pools of partner mpnID from
// RemainingIncidentsName, scanned with plain database/sql.
func (rm *ReadModels) remainingContracts(ctx context.Context, mpnID string) (domain.Partner, error) {
	rows, err := rm.remaining.query(ctx, rm.db, mpnID)
	if err != nil {
		return domain.Partner{}, fmt.Errorf("remaining incidents of %s: %w", mpnID, err)
	}
	return scanRemainingContracts(mpnID, rows)
}

// scanRemainingContracts is partner mpnID's contracts and pools from the rows of
// remainingIncidentsSQL; it closes rows.
func scanRemainingContracts(mpnID string, rows *sql.Rows) (domain.Partner, error) {
	defer rows.Close()
	p := domain.Partner{MPNID: mpnID, ContractByID: map[string]domain.Contract{}}
	var (
		contractID, kind   string
		granted            sql.NullInt64
		used               int
		validFrom, validTo sqldb.ScannedTime
	)
	for rows.Next() {
		if err := rows.Scan(&contractID, &kind, &granted, &used, &validFrom, &validTo); err != nil {
			return domain.Partner{}, fmt.Errorf("remaining incidents of %s: %w", mpnID, err)
		}
		c := p.ContractByID[contractID]
		c.ContractID, c.ValidFrom, c.ValidUntil = contractID, validFrom.T.UTC(), validTo.T.UTC()
		pool := domain.Pool{Kind: domain.PoolKind(kind), Used: used}
		if granted.Valid {
			n := int(granted.Int64)
			pool.Granted = &n
		}
		c.Pools = append(c.Pools, pool)
		p.ContractByID[contractID] = c
	}
	if err := rows.Err(); err != nil {
		return domain.Partner{}, fmt.Errorf("remaining incidents of %s: %w", mpnID, err)
	}
	return p, nil
}

// LinkedAccounts answers GET /v1/contracts/{contractId}/linked-accounts: one page of
// the accounts linked to the contract, in link order (see paging.Page; a cursor of
// another list is paging.ErrBadCursor). Reads LinkedAccountsName.
func (rm *ReadModels) LinkedAccounts(ctx context.Context, contractID string, page paging.Page) (LinkedAccounts, error) {
	limit, err := page.Size()
	if err != nil {
		return LinkedAccounts{}, err
	}
	scope := "linked-accounts/" + contractID
	after, err := paging.Decode[linkKey](scope, page.Cursor)
	if err != nil {
		return LinkedAccounts{}, err
	}
	var rows []linkedAccountRow
	q := rm.db.NewSelect().Model(&rows).Where("contract_id = ?", contractID).
		Where("(link_position > ? OR (link_position = ? AND user_id > ?))", after.Position, after.Position, after.UserID).
		Order("link_position", "user_id").Limit(limit + 1)
	if err := q.Scan(ctx); err != nil {
		return LinkedAccounts{}, fmt.Errorf("accounts linked to %s: %w", contractID, err)
	}
	out := LinkedAccounts{Accounts: make([]LinkedAccount, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			last := rows[i-1]
			out.NextCursor = paging.Encode(scope, linkKey{Position: last.LinkPosition, UserID: last.UserID})
			break
		}
		out.Accounts = append(out.Accounts, LinkedAccount{UserID: r.UserID, AccountType: r.AccountType, LinkedAt: utc(r.LinkedAt), LinkedBy: r.LinkedBy})
	}
	return out, nil
}

// linkKey is where a page of linked accounts ends: the last link's position, and its
// account when two links share one (events appended together).
type linkKey struct {
	Position int64  `json:"p"`
	UserID   string `json:"u"`
}

// SupportPlans answers GET /v1/accounts/{userId}/support-plans as of now: the plans
// the account can use, and the unavailable ones with the reason (R14), over every
// partner the account belongs to. Reads SupportPlansName.
func (rm *ReadModels) SupportPlans(ctx context.Context, userID string, now time.Time) (SupportPlans, error) {
	var rows []supportPlanRow
	if err := rm.db.NewSelect().Model(&rows).Where("user_id = ?", userID).Scan(ctx); err != nil {
		return SupportPlans{}, fmt.Errorf("support plans of %s: %w", userID, err)
	}
	sortSupportPlanRows(rows)
	out := SupportPlans{Usable: []SupportPlan{}, Unavailable: []SupportPlan{}}
	for _, r := range rows {
		sp := SupportPlan{Plan: r.Plan, MPNID: r.MPNID, ContractID: r.ContractID, PaidPlanID: r.PaidPlanID,
			ValidFrom: utcOrNil(r.ValidFrom), ValidTo: utcOrNil(r.ValidTo)}
		if r.ContractID != "" {
			sp.Granted, sp.Remaining = r.Granted, r.Remaining
		}
		sp.Reason = supportPlanReason(r, now)
		out.add(sp)
	}
	return out, nil
}

// supportPlanReason is why a plan row is unavailable at now, "" when usable; the same
// reasons, in the same order, as domain.Partner.SupportPlansFor.
func supportPlanReason(r supportPlanRow, now time.Time) string {
	if r.ValidFrom == nil {
		return "" // the CSP plan has no window
	}
	from, to := *r.ValidFrom, *r.ValidTo
	if r.ContractID != "" {
		switch {
		case now.Before(from) || !now.Before(to):
			return domain.ReasonExpired
		case r.Remaining != nil && *r.Remaining == 0:
			return domain.ReasonExhausted
		}
		return ""
	}
	switch {
	case now.Before(from):
		return domain.ReasonNotYetValid
	case !now.Before(to):
		return domain.ReasonExpired
	}
	return ""
}

// Incidents answers GET /v1/partners/{mpnId}/incidents: one page of the partner's
// incidents in the order opened (see paging.Page); status "" lists all, else only open
// or only closed ones (else ErrBadStatusFilter). The page is read by key from an index,
// so it costs the same whatever the partner's number of incidents, and incidents opened
// while a client walks the pages come at the end. Reads IncidentsName.
func (rm *ReadModels) Incidents(ctx context.Context, mpnID string, status domain.IncidentStatus, page paging.Page) (Incidents, error) {
	if err := checkStatusFilter(status); err != nil {
		return Incidents{}, err
	}
	limit, after, err := incidentsPage(mpnID, status, page)
	if err != nil {
		return Incidents{}, err
	}
	var rows []incidentRow
	q := rm.db.NewSelect().Model(&rows).Where("mpn_id = ?", mpnID).Where("seq > ?", after.Seq).Order("seq").Limit(limit + 1)
	if status != "" {
		q = q.Where("status = ?", string(status))
	}
	if err := q.Scan(ctx); err != nil {
		return Incidents{}, fmt.Errorf("incidents of %s: %w", mpnID, err)
	}
	out := Incidents{Incidents: make([]Incident, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			out.NextCursor = incidentsCursor(mpnID, status, rows[i-1].Seq)
			break
		}
		out.Incidents = append(out.Incidents, Incident{IncidentID: r.IncidentID, MPNID: r.MPNID, Plan: r.Plan, ContractID: r.ContractID,
			Pool: r.Pool, PaidPlanID: r.PaidPlanID, Product: r.Product, Version: r.Version, CustomerID: r.CustomerID,
			CustomerCountry: r.Country, Severity: r.Severity, Title: r.Title, Status: r.Status, OpenedBy: r.OpenedBy, OpenedAt: utc(r.OpenedAt),
			ClosedAt: utcOrNil(r.ClosedAt), ClosedBy: r.ClosedBy, Resolution: r.Resolution})
	}
	return out, nil
}

func checkStatusFilter(status domain.IncidentStatus) error {
	switch status {
	case "", domain.IncidentStatusOpen, domain.IncidentStatusClosed:
		return nil
	}
	return fmt.Errorf("%w, not %q", ErrBadStatusFilter, status)
}

// Benefits answers GET /v1/partners/{mpnId}/benefits as of now: level and active
// memberships are decided at this moment (R3, R6). The Access ID and Contract ID are
// included only when revealIDs: the caller is an MPN-linked account of the partner or
// a system role (R4; decided by domain.CanSeeContractIDs). ErrNotFound if no such partner.
// Reads BenefitsOverviewName.
func (rm *ReadModels) Benefits(ctx context.Context, mpnID string, now time.Time, revealIDs bool) (Benefits, error) {
	var overview benefitsOverviewRow
	err := rm.db.NewSelect().Model(&overview).Where("mpn_id = ?", mpnID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Benefits{}, fmt.Errorf("partner %s: %w", mpnID, ErrNotFound)
	}
	if err != nil {
		return Benefits{}, fmt.Errorf("benefits of %s: %w", mpnID, err)
	}
	var memberships []benefitsMembershipRow
	if err := rm.db.NewSelect().Model(&memberships).Where("mpn_id = ?", mpnID).Order("ordinal").Scan(ctx); err != nil {
		return Benefits{}, fmt.Errorf("memberships of %s: %w", mpnID, err)
	}
	var entitlements []benefitsEntitlementRow
	if err := rm.db.NewSelect().Model(&entitlements).Where("mpn_id = ?", mpnID).Order("pool_index").Scan(ctx); err != nil {
		return Benefits{}, fmt.Errorf("entitlements of %s: %w", mpnID, err)
	}
	return RenderBenefits(partnerFromOverview(overview, memberships, entitlements), now, revealIDs), nil
}

// partnerFromOverview rebuilds the part of a partner's state the benefits page shows,
// so that the answer comes from the same code as the as-of answer.
func partnerFromOverview(o benefitsOverviewRow, ms []benefitsMembershipRow, ents []benefitsEntitlementRow) domain.Partner {
	p := domain.Partner{MPNID: o.MPNID, Name: o.Name, CSP: o.CSP, EnrolledAt: o.EnrolledAt.UTC(),
		MembershipByID: make(map[string]domain.Membership, len(ms)), ContractByID: map[string]domain.Contract{}}
	for i, m := range ms {
		dm := domain.Membership{MembershipID: m.MembershipID, Seq: i + 1, Level: domain.Level(m.Level),
			Competency: m.Competency, ValidFrom: m.ValidFrom.UTC(), ValidUntil: m.ValidTo.UTC()}
		if m.EndedAt != nil {
			dm.EndedAt = m.EndedAt.UTC()
		}
		p.MembershipByID[m.MembershipID] = dm
	}
	if o.ContractID != "" {
		c := domain.Contract{ContractID: o.ContractID, AccessID: o.AccessID, ActivatedBy: o.ActivatedBy,
			Level: domain.Level(o.ContractLevel), ValidFrom: o.ActivatedAt.UTC(), ValidUntil: o.ContractValidTo.UTC()}
		for _, e := range ents {
			c.Pools = append(c.Pools, domain.Pool{Kind: domain.PoolKind(e.PoolKind), Granted: e.Granted})
		}
		p.ContractByID[c.ContractID], p.CurrentContractID = c, c.ContractID
	}
	return p
}

// PartnersOfUser lists the partners an account is registered with, by MPN ID: how the
// API knows whose data a partner user may read. Reads BenefitsOverviewName.
func (rm *ReadModels) PartnersOfUser(ctx context.Context, userID string) ([]PartnerUser, error) {
	var rows []partnerUserRow
	if err := rm.db.NewSelect().Model(&rows).Where("user_id = ?", userID).Order("mpn_id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("partners of %s: %w", userID, err)
	}
	out := make([]PartnerUser, len(rows))
	for i, r := range rows {
		out[i] = partnerUserOf(r)
	}
	return out, nil
}

// PartnerUser is one account of one partner; ErrNotFound if it is not registered there.
// Reads BenefitsOverviewName.
func (rm *ReadModels) PartnerUser(ctx context.Context, mpnID, userID string) (PartnerUser, error) {
	var r partnerUserRow
	err := rm.db.NewSelect().Model(&r).Where("mpn_id = ?", mpnID).Where("user_id = ?", userID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return PartnerUser{}, fmt.Errorf("account %s of partner %s: %w", userID, mpnID, ErrNotFound)
	}
	if err != nil {
		return PartnerUser{}, fmt.Errorf("account %s of partner %s: %w", userID, mpnID, err)
	}
	return partnerUserOf(r), nil
}

func partnerUserOf(r partnerUserRow) PartnerUser {
	return PartnerUser{MPNID: r.MPNID, UserID: r.UserID, AccountType: r.AccountType, MPNLinked: r.MPNLinked,
		CSPOnly: r.CSPOnly, Roles: splitRoles(r.Roles), RegisteredAt: utc(r.RegisteredAt)}
}

// User is the account as the domain's read rules take it (domain.PartnerUsers), so a
// reader's rights can be decided from the read model's users too.
func (u PartnerUser) User() domain.User {
	roles := make([]domain.Role, len(u.Roles))
	for i, r := range u.Roles {
		roles[i] = domain.Role(r)
	}
	return domain.User{UserID: u.UserID, AccountType: domain.AccountType(u.AccountType), MPNLinked: u.MPNLinked,
		CSPOnly: u.CSPOnly, Roles: roles, RegisteredAt: u.RegisteredAt}
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return utcPtr(*t)
}
