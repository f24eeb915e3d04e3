package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// BenefitsOverviewName is the read model behind a partner's benefits page.
const BenefitsOverviewName = "benefits_overview"

// BenefitsOverviewProjection keeps, per partner, what its benefits page shows: name,
// memberships with their windows (R3), the latest activation with its Access ID and
// Contract ID (R4, R5) and the entitlement it granted, pool by pool (R6, R7, R9); and
// the partner's user accounts, so the API knows who belongs to which partner and who
// may see the IDs (R4).
//
// A partner's level (R6) and whether a membership is active depend on the moment, so
// they are not stored: ReadModels.Benefits computes them from the stored windows when
// asked. A dashboard reading benefits_memberships directly must do the same: a
// membership is active when valid_from <= now < valid_to and not ended_at <= now.
type BenefitsOverviewProjection struct{}

const benefitsOverviewVersion = 1

// Logical tables of the projection.
const (
	benefitsOverviewTable     = BenefitsOverviewName
	benefitsMembershipsTable  = "benefits_memberships"
	benefitsEntitlementsTable = "benefits_entitlements"
	benefitsUsersTable        = "benefits_users"
)

type benefitsOverviewRow struct {
	bun.BaseModel `bun:"table:benefits_overview,alias:bo"`

	MPNID      string    `bun:"mpn_id,pk"`
	Name       string    `bun:"name,notnull"`
	CSP        bool      `bun:"csp,notnull"`
	EnrolledAt time.Time `bun:"enrolled_at,notnull"`
	// The latest activation; empty before the first.
	AccessID        string     `bun:"access_id,notnull"`
	ContractID      string     `bun:"contract_id,notnull"`
	ActivatedBy     string     `bun:"activated_by,notnull"`
	ContractLevel   string     `bun:"contract_level,notnull"`
	ActivatedAt     *time.Time `bun:"activated_at"`      // the contract's start
	ContractValidTo *time.Time `bun:"contract_valid_to"` // exclusive
	rowVersions
}

type benefitsMembershipRow struct {
	bun.BaseModel `bun:"table:benefits_memberships,alias:bm"`

	MPNID        string     `bun:"mpn_id,pk"`
	MembershipID string     `bun:"membership_id,pk"`
	Ordinal      int64      `bun:"ordinal,notnull"` // position of the grant: the order granted
	Level        string     `bun:"level,notnull"`
	Competency   string     `bun:"competency,notnull"`
	ValidFrom    time.Time  `bun:"valid_from,notnull"`
	ValidTo      time.Time  `bun:"valid_to,notnull"` // exclusive
	EndedAt      *time.Time `bun:"ended_at"`         // set when ended early
	rowVersions
}

type benefitsEntitlementRow struct {
	bun.BaseModel `bun:"table:benefits_entitlements,alias:be"`

	MPNID      string `bun:"mpn_id,pk"`
	PoolKind   string `bun:"pool_kind,pk"`
	ContractID string `bun:"contract_id,notnull"`
	PoolIndex  int    `bun:"pool_index,notnull"`
	Granted    *int   `bun:"granted"` // NULL: unlimited
	rowVersions
}

type partnerUserRow struct {
	bun.BaseModel `bun:"table:benefits_users,alias:bu"`

	UserID       string    `bun:"user_id,pk"`
	MPNID        string    `bun:"mpn_id,pk"`
	AccountType  string    `bun:"account_type,notnull"`
	MPNLinked    bool      `bun:"mpn_linked,notnull"`
	CSPOnly      bool      `bun:"csp_only,notnull"`
	Roles        string    `bun:"roles,notnull"` // comma-separated
	RegisteredAt time.Time `bun:"registered_at,notnull"`
	rowVersions
}

type membershipKey struct{ mpnID, membershipID string }

var benefitsOverviewEvents = typesOf(domain.PartnerEnrolled{}, domain.MembershipGranted{}, domain.MembershipEnded{},
	domain.BenefitActivated{}, domain.UserRegistered{}, domain.UserRolesChanged{})

func (BenefitsOverviewProjection) Name() string { return BenefitsOverviewName }
func (BenefitsOverviewProjection) Version() int { return benefitsOverviewVersion }
func (BenefitsOverviewProjection) Tables() []string {
	return []string{benefitsOverviewTable, benefitsMembershipsTable, benefitsEntitlementsTable, benefitsUsersTable}
}

// Create makes the tables; every one is keyed by partner first except the users, keyed
// by account for "which partners does this account belong to".
func (BenefitsOverviewProjection) Create(ctx context.Context, db bun.IDB, t Tables) error {
	if err := createTable[benefitsOverviewRow](ctx, db, t, benefitsOverviewTable); err != nil {
		return err
	}
	if err := createTable[benefitsMembershipRow](ctx, db, t, benefitsMembershipsTable); err != nil {
		return err
	}
	if err := createTable[benefitsEntitlementRow](ctx, db, t, benefitsEntitlementsTable); err != nil {
		return err
	}
	return createTable[partnerUserRow](ctx, db, t, benefitsUsersTable, index{"by_partner", "mpn_id"})
}

// Apply folds the batch into the rows it touches, loaded once, and writes them back.
func (BenefitsOverviewProjection) Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error {
	return applyReadModel(ctx, tx, t, batch, benefitsOverviewEvents, newBenefitsBatch)
}

func newBenefitsBatch() readModelBatch {
	return &benefitsBatch{
		partners: newRowSet[string, benefitsOverviewRow](), memberships: newRowSet[membershipKey, benefitsMembershipRow](),
		users: newRowSet[accountKey, partnerUserRow](), entitlements: map[string][]benefitsEntitlementRow{},
	}
}

type benefitsBatch struct {
	partners    *rowSet[string, benefitsOverviewRow]
	memberships *rowSet[membershipKey, benefitsMembershipRow]
	users       *rowSet[accountKey, partnerUserRow]
	// entitlements replaces, per partner activated in the batch, all its entitlement rows.
	entitlements map[string][]benefitsEntitlementRow
}

// load reads the rows the batch changes but did not create: partners it activates,
// memberships it ends, accounts whose roles it changes.
func (b *benefitsBatch) load(ctx context.Context, tx bun.Tx, t Tables, events []decoded) error {
	var partners, membershipPartners, users set[string]
	enrolled := map[string]bool{}
	for _, d := range events {
		switch e := d.event.(type) {
		case domain.PartnerEnrolled:
			enrolled[e.MPNID] = true
		case domain.BenefitActivated:
			if !enrolled[e.MPNID] {
				partners.add(e.MPNID)
			}
		case domain.MembershipEnded:
			membershipPartners.add(e.MPNID)
		case domain.UserRolesChanged:
			users.add(e.UserID)
		}
	}
	err := inChunks(partners.list, func(ids []string) error {
		var rows []benefitsOverviewRow
		err := selectRows(ctx, tx, t, benefitsOverviewTable, "mpn_id", ids, &rows)
		for _, r := range rows {
			b.partners.loaded(r.MPNID, r)
		}
		return err
	})
	if err != nil {
		return err
	}
	err = inChunks(membershipPartners.list, func(ids []string) error {
		var rows []benefitsMembershipRow
		err := selectRows(ctx, tx, t, benefitsMembershipsTable, "mpn_id", ids, &rows)
		for _, r := range rows {
			b.memberships.loaded(membershipKey{r.MPNID, r.MembershipID}, r)
		}
		return err
	})
	if err != nil {
		return err
	}
	return inChunks(users.list, func(ids []string) error {
		var rows []partnerUserRow
		err := selectRows(ctx, tx, t, benefitsUsersTable, "user_id", ids, &rows)
		for _, r := range rows {
			b.users.loaded(accountKey{r.MPNID, r.UserID}, r)
		}
		return err
	})
}

func (b *benefitsBatch) evolve(d decoded) error {
	v := versionsOf(benefitsOverviewVersion, d.event)
	switch e := d.event.(type) {
	case domain.PartnerEnrolled:
		b.partners.put(e.MPNID, benefitsOverviewRow{MPNID: e.MPNID, Name: e.Name, CSP: e.CSP,
			EnrolledAt: utc(e.OccurredAt), rowVersions: v})
	case domain.MembershipGranted:
		b.memberships.put(membershipKey{e.MPNID, e.MembershipID}, benefitsMembershipRow{
			MPNID: e.MPNID, MembershipID: e.MembershipID, Ordinal: int64(d.position.Commit), Level: string(e.Level),
			Competency: e.Competency, ValidFrom: utc(e.ValidFrom), ValidTo: utc(e.ValidUntil), rowVersions: v})
	case domain.MembershipEnded:
		k := membershipKey{e.MPNID, e.MembershipID}
		m, ok := b.memberships.get(k)
		if !ok {
			return fmt.Errorf("membership %s of partner %s ended but never granted", e.MembershipID, e.MPNID)
		}
		m.EndedAt, m.rowVersions = utcPtr(e.OccurredAt), v
		b.memberships.mark(k)
	case domain.BenefitActivated:
		p, ok := b.partners.get(e.MPNID)
		if !ok {
			return fmt.Errorf("benefit activated for partner %s, which was never enrolled", e.MPNID)
		}
		p.AccessID, p.ContractID, p.ActivatedBy, p.ContractLevel = e.AccessID, e.ContractID, e.ActivatedBy, string(e.Level)
		p.ActivatedAt, p.ContractValidTo, p.rowVersions = utcPtr(e.ValidFrom), utcPtr(e.ValidUntil), v
		b.partners.mark(e.MPNID)
		ents := make([]benefitsEntitlementRow, len(e.Pools))
		for i, pool := range e.Pools {
			ents[i] = benefitsEntitlementRow{MPNID: e.MPNID, PoolKind: string(pool.Kind), ContractID: e.ContractID,
				PoolIndex: i, Granted: cloneInt(pool.Granted), rowVersions: v}
		}
		b.entitlements[e.MPNID] = ents
	case domain.UserRegistered:
		b.users.put(accountKey{e.MPNID, e.UserID}, partnerUserRow{UserID: e.UserID, MPNID: e.MPNID,
			AccountType: string(e.AccountType), MPNLinked: e.MPNLinked, CSPOnly: e.CSPOnly, Roles: joinRoles(e.Roles),
			RegisteredAt: utc(e.OccurredAt), rowVersions: v})
	case domain.UserRolesChanged:
		k := accountKey{e.MPNID, e.UserID}
		u, ok := b.users.get(k)
		if !ok {
			return fmt.Errorf("roles changed for %s, who is not an account of partner %s", e.UserID, e.MPNID)
		}
		u.Roles, u.rowVersions = joinRoles(e.Roles), v
		b.users.mark(k)
	}
	return nil
}

func (b *benefitsBatch) write(ctx context.Context, tx bun.Tx, t Tables) error {
	if err := upsertRows(ctx, tx, t, benefitsOverviewTable, b.partners.changed()); err != nil {
		return err
	}
	if err := upsertRows(ctx, tx, t, benefitsMembershipsTable, b.memberships.changed()); err != nil {
		return err
	}
	if err := upsertRows(ctx, tx, t, benefitsUsersTable, b.users.changed()); err != nil {
		return err
	}
	if len(b.entitlements) == 0 {
		return nil
	}
	var replaced []string
	var ents []benefitsEntitlementRow
	for mpnID, rows := range b.entitlements {
		replaced = append(replaced, mpnID)
		ents = append(ents, rows...)
	}
	err := inChunks(replaced, func(ids []string) error {
		_, err := tx.NewDelete().Model((*benefitsEntitlementRow)(nil)).ModelTableExpr("?", t.Ident(benefitsEntitlementsTable)).
			Where("mpn_id IN (?)", bun.In(ids)).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("replace %s: %w", t[benefitsEntitlementsTable], err)
	}
	return upsertRows(ctx, tx, t, benefitsEntitlementsTable, ents)
}

func joinRoles(roles []domain.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func splitRoles(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
