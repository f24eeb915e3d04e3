package projections

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// SupportPlansName is the read model of the plans each account can use (R14).
const SupportPlansName = "support_plans"

// SupportPlansProjection keeps, per account, one row per plan it may file under: each
// pool of each contract linked to it (R12, R13), each paid plan of its partner (R21), and
// the Cloud Solution Provider plan for admin agents of CSP partners (R20). Rows carry
// their validity window, pool figures and the event-driven status (exhausted when the
// pool has no incident left); whether a window has passed is decided when the table is
// read, never stored (R14). ReadModels.SupportPlans splits the rows into usable and
// unavailable with the reason, exactly as domain.Partner.SupportPlansFor does.
//
// The projection also keeps what it needs to know when a row appears or changes: the
// partners (CSP or not), their accounts (CSP-only, admin agent), the pools of every
// contract and every paid plan. Accounts linked only to CSP get no contract plans (R2).
type SupportPlansProjection struct{}

const supportPlansVersion = 1

// Logical tables of the projection.
const (
	supportPlansTable        = SupportPlansName
	supportPlanAccountsTable = "support_plan_accounts"
	supportPlanPartnersTable = "support_plan_partners"
	supportPlanPoolsTable    = "support_plan_pools"
	supportPlanPaidTable     = "support_plan_paid"
)

// cspPlanID is the plan_id of the Cloud Solution Provider plan row.
const cspPlanID = string(domain.PlanCSP)

type supportPlanRow struct {
	bun.BaseModel `bun:"table:support_plans,alias:sp"`

	UserID string `bun:"user_id,pk"`
	MPNID  string `bun:"mpn_id,pk"`
	// PlanID is "<contractId>/<pool>" for a contract's pool, the paid plan's ID, or
	// "cloud-solution-provider".
	PlanID     string `bun:"plan_id,pk"`
	Plan       string `bun:"plan,notnull"`
	ContractID string `bun:"contract_id,notnull"`
	PaidPlanID string `bun:"paid_plan_id,notnull"`
	// Ordinal orders plans of one kind: the pool's place in its contract, or the position
	// of the paid plan's purchase.
	Ordinal   int64      `bun:"ordinal,notnull"`
	ValidFrom *time.Time `bun:"valid_from"` // NULL: no window (CSP plan)
	ValidTo   *time.Time `bun:"valid_to"`   // exclusive
	Granted   *int       `bun:"granted"`    // pools; NULL: unlimited, or not counted
	Used      int        `bun:"used,notnull"`
	Remaining *int       `bun:"remaining"`
	Status    string     `bun:"status,notnull"` // active | exhausted; expiry: compare the window with now
	rowVersions
}

type supportAccountRow struct {
	bun.BaseModel `bun:"table:support_plan_accounts,alias:spa"`

	MPNID      string `bun:"mpn_id,pk"`
	UserID     string `bun:"user_id,pk"`
	CSPOnly    bool   `bun:"csp_only,notnull"`
	AdminAgent bool   `bun:"admin_agent,notnull"`
	rowVersions
}

type supportPartnerRow struct {
	bun.BaseModel `bun:"table:support_plan_partners,alias:spp"`

	MPNID string `bun:"mpn_id,pk"`
	CSP   bool   `bun:"csp,notnull"`
	rowVersions
}

type supportPoolRow struct {
	bun.BaseModel `bun:"table:support_plan_pools,alias:spl"`

	ContractID string    `bun:"contract_id,pk"`
	PoolKind   string    `bun:"pool_kind,pk"`
	MPNID      string    `bun:"mpn_id,notnull"`
	PoolIndex  int       `bun:"pool_index,notnull"`
	ValidFrom  time.Time `bun:"valid_from,notnull"`
	ValidTo    time.Time `bun:"valid_to,notnull"`
	Granted    *int      `bun:"granted"`
	Used       int       `bun:"used,notnull"`
	rowVersions
}

type supportPaidRow struct {
	bun.BaseModel `bun:"table:support_plan_paid,alias:spd"`

	MPNID      string    `bun:"mpn_id,pk"`
	PaidPlanID string    `bun:"paid_plan_id,pk"`
	Plan       string    `bun:"plan,notnull"`
	ValidFrom  time.Time `bun:"valid_from,notnull"`
	ValidTo    time.Time `bun:"valid_to,notnull"`
	Ordinal    int64     `bun:"ordinal,notnull"`
	rowVersions
}

type (
	accountKey struct{ mpnID, userID string }
	paidKey    struct{ mpnID, planID string }
	planKey    struct{ userID, mpnID, planID string }
)

var supportPlansEvents = typesOf(domain.PartnerEnrolled{}, domain.UserRegistered{}, domain.UserRolesChanged{},
	domain.BenefitActivated{}, domain.ContractLinked{}, domain.IncidentOpened{}, domain.SupportPlanPurchased{})

func (SupportPlansProjection) Name() string { return SupportPlansName }
func (SupportPlansProjection) Version() int { return supportPlansVersion }
func (SupportPlansProjection) Tables() []string {
	return []string{supportPlansTable, supportPlanAccountsTable, supportPlanPartnersTable, supportPlanPoolsTable, supportPlanPaidTable}
}

// Create makes the tables. The answer table is keyed by account first, for the query;
// its contract index serves the update of every account linked to a pool.
func (SupportPlansProjection) Create(ctx context.Context, db bun.IDB, t Tables) error {
	if err := createTable[supportPlanRow](ctx, db, t, supportPlansTable, index{"by_contract", "contract_id, plan"}); err != nil {
		return err
	}
	if err := createTable[supportAccountRow](ctx, db, t, supportPlanAccountsTable, index{"by_user", "user_id"}); err != nil {
		return err
	}
	if err := createTable[supportPartnerRow](ctx, db, t, supportPlanPartnersTable); err != nil {
		return err
	}
	if err := createTable[supportPoolRow](ctx, db, t, supportPlanPoolsTable); err != nil {
		return err
	}
	return createTable[supportPaidRow](ctx, db, t, supportPlanPaidTable)
}

// Apply folds the batch into the rows it touches, loaded once, and writes them back.
func (SupportPlansProjection) Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error {
	return applyReadModel(ctx, tx, t, batch, supportPlansEvents, newSupportPlansBatch)
}

// supportPlansBatch is the unit of work of one Apply.
type supportPlansBatch struct {
	partners *rowSet[string, supportPartnerRow]
	accounts *rowSet[accountKey, supportAccountRow]
	pools    *rowSet[poolKey, supportPoolRow]
	paid     *rowSet[paidKey, supportPaidRow]

	accountsOf map[string][]accountKey // partner -> accounts held (all, for partners that buy a plan)
	paidOf     map[string][]paidKey    // partner -> paid plans held (all, for partners that register users)
	poolsOf    map[string][]poolKey    // contract -> pools held

	plans     map[planKey]*supportPlanRow // rows to write; nil: to delete
	planOrder []planKey
	planAt    map[planKey]uint64  // position of the event that made a pool's plan row
	poolAt    map[poolKey]uint64  // position of the last incident on a pool
	poolNew   map[poolKey]bool    // pools activated in this batch (no plan rows in the database)
	cspHad    map[accountKey]bool // accounts whose CSP plan row may exist in the database
}

func newSupportPlansBatch() readModelBatch {
	return &supportPlansBatch{
		partners: newRowSet[string, supportPartnerRow](), accounts: newRowSet[accountKey, supportAccountRow](),
		pools: newRowSet[poolKey, supportPoolRow](), paid: newRowSet[paidKey, supportPaidRow](),
		accountsOf: map[string][]accountKey{}, paidOf: map[string][]paidKey{}, poolsOf: map[string][]poolKey{},
		plans: map[planKey]*supportPlanRow{}, planAt: map[planKey]uint64{}, poolAt: map[poolKey]uint64{},
		poolNew: map[poolKey]bool{}, cspHad: map[accountKey]bool{},
	}
}

// load reads the helper rows the batch needs: partners and accounts it registers or
// changes, every account of a partner that buys a plan, every paid plan of a partner
// that registers a user, and the pools of contracts it links or draws on.
func (b *supportPlansBatch) load(ctx context.Context, tx bun.Tx, t Tables, events []decoded) error {
	var partners, users, buyers, registrars, contracts set[string]
	var pairs set[accountKey]
	activated := map[string]bool{}
	for _, d := range events {
		switch e := d.event.(type) {
		case domain.UserRegistered:
			partners.add(e.MPNID)
			registrars.add(e.MPNID)
			users.add(e.UserID)
			pairs.add(accountKey{e.MPNID, e.UserID})
		case domain.UserRolesChanged:
			partners.add(e.MPNID)
			users.add(e.UserID)
			pairs.add(accountKey{e.MPNID, e.UserID})
		case domain.ContractLinked:
			users.add(e.UserID)
			pairs.add(accountKey{e.MPNID, e.UserID})
			if !activated[e.ContractID] {
				contracts.add(e.ContractID)
			}
		case domain.BenefitActivated:
			activated[e.ContractID] = true
		case domain.IncidentOpened:
			if e.Pool != "" && !activated[e.ContractID] {
				contracts.add(e.ContractID)
			}
		case domain.SupportPlanPurchased:
			buyers.add(e.MPNID)
		}
	}
	err := inChunks(partners.list, func(ids []string) error {
		var rows []supportPartnerRow
		err := selectRows(ctx, tx, t, supportPlanPartnersTable, "mpn_id", ids, &rows)
		for _, r := range rows {
			b.partners.loaded(r.MPNID, r)
		}
		return err
	})
	if err != nil {
		return err
	}
	addAccounts := func(rows []supportAccountRow, keep func(supportAccountRow) bool) {
		for _, r := range rows {
			k := accountKey{r.MPNID, r.UserID}
			if _, held := b.accounts.get(k); held || !keep(r) {
				continue
			}
			b.accounts.loaded(k, r)
			b.accountsOf[r.MPNID] = append(b.accountsOf[r.MPNID], k)
			b.cspHad[k] = r.AdminAgent
		}
	}
	err = inChunks(buyers.list, func(ids []string) error {
		var rows []supportAccountRow
		err := selectRows(ctx, tx, t, supportPlanAccountsTable, "mpn_id", ids, &rows)
		addAccounts(rows, func(supportAccountRow) bool { return true })
		return err
	})
	if err != nil {
		return err
	}
	err = inChunks(users.list, func(ids []string) error {
		var rows []supportAccountRow
		err := selectRows(ctx, tx, t, supportPlanAccountsTable, "user_id", ids, &rows)
		addAccounts(rows, func(r supportAccountRow) bool { return pairs.has[accountKey{r.MPNID, r.UserID}] })
		return err
	})
	if err != nil {
		return err
	}
	err = inChunks(registrars.list, func(ids []string) error {
		var rows []supportPaidRow
		err := selectRows(ctx, tx, t, supportPlanPaidTable, "mpn_id", ids, &rows)
		for _, r := range rows {
			k := paidKey{r.MPNID, r.PaidPlanID}
			b.paid.loaded(k, r)
			b.paidOf[r.MPNID] = append(b.paidOf[r.MPNID], k)
		}
		return err
	})
	if err != nil {
		return err
	}
	return inChunks(contracts.list, func(ids []string) error {
		var rows []supportPoolRow
		err := selectRows(ctx, tx, t, supportPlanPoolsTable, "contract_id", ids, &rows)
		for _, r := range rows {
			k := poolKey{r.ContractID, r.PoolKind}
			b.pools.loaded(k, r)
			b.poolsOf[r.ContractID] = append(b.poolsOf[r.ContractID], k)
		}
		return err
	})
}

func (b *supportPlansBatch) evolve(d decoded) error {
	v := versionsOf(supportPlansVersion, d.event)
	switch e := d.event.(type) {
	case domain.PartnerEnrolled:
		b.partners.put(e.MPNID, supportPartnerRow{MPNID: e.MPNID, CSP: e.CSP, rowVersions: v})
	case domain.UserRegistered:
		k := accountKey{e.MPNID, e.UserID}
		if _, held := b.accounts.get(k); !held {
			b.accountsOf[e.MPNID] = append(b.accountsOf[e.MPNID], k)
		}
		b.accounts.put(k, supportAccountRow{MPNID: e.MPNID, UserID: e.UserID, CSPOnly: e.CSPOnly,
			AdminAgent: slices.Contains(e.Roles, domain.RoleAdminAgent), rowVersions: v})
		for _, pk := range b.paidOf[e.MPNID] {
			paid, _ := b.paid.get(pk)
			b.putPlan(paidPlanRow(e.UserID, *paid, v))
		}
		return b.setCSPPlan(k, v)
	case domain.UserRolesChanged:
		k := accountKey{e.MPNID, e.UserID}
		acc, ok := b.accounts.get(k)
		if !ok {
			return fmt.Errorf("roles changed for %s, who is not an account of partner %s", e.UserID, e.MPNID)
		}
		acc.AdminAgent, acc.rowVersions = slices.Contains(e.Roles, domain.RoleAdminAgent), v
		b.accounts.mark(k)
		return b.setCSPPlan(k, v)
	case domain.BenefitActivated:
		for i, pool := range e.Pools {
			k := poolKey{e.ContractID, string(pool.Kind)}
			b.pools.put(k, supportPoolRow{ContractID: e.ContractID, PoolKind: string(pool.Kind), MPNID: e.MPNID,
				PoolIndex: i, ValidFrom: utc(e.ValidFrom), ValidTo: utc(e.ValidUntil), Granted: cloneInt(pool.Granted), rowVersions: v})
			b.poolsOf[e.ContractID] = append(b.poolsOf[e.ContractID], k)
			b.poolNew[k] = true
		}
	case domain.ContractLinked:
		if len(b.poolsOf[e.ContractID]) == 0 {
			return fmt.Errorf("contract %s linked to %s but never activated", e.ContractID, e.UserID)
		}
		acc, ok := b.accounts.get(accountKey{e.MPNID, e.UserID})
		if !ok || acc.CSPOnly {
			return nil // an account linked only to CSP uses no contract (R2), as SupportPlansFor says
		}
		for _, pk := range b.poolsOf[e.ContractID] {
			pool, _ := b.pools.get(pk)
			row := poolPlanRow(e.UserID, *pool, v)
			b.putPlan(row)
			b.planAt[planKey{row.UserID, row.MPNID, row.PlanID}] = d.position.Commit
		}
	case domain.IncidentOpened:
		if e.Pool == "" {
			return nil
		}
		k := poolKey{e.ContractID, string(e.Pool)}
		pool, ok := b.pools.get(k)
		if !ok {
			return fmt.Errorf("incident %s draws on pool %s of contract %s, which was never activated", e.IncidentID, e.Pool, e.ContractID)
		}
		pool.Used++
		pool.rowVersions = v
		b.pools.mark(k)
		b.poolAt[k] = d.position.Commit
	case domain.SupportPlanPurchased:
		k := paidKey{e.MPNID, e.PlanID}
		paid := b.paid.put(k, supportPaidRow{MPNID: e.MPNID, PaidPlanID: e.PlanID, Plan: string(e.Plan),
			ValidFrom: utc(e.ValidFrom), ValidTo: utc(e.ValidUntil), Ordinal: int64(d.position.Commit), rowVersions: v})
		b.paidOf[e.MPNID] = append(b.paidOf[e.MPNID], k)
		for _, ak := range b.accountsOf[e.MPNID] {
			b.putPlan(paidPlanRow(ak.userID, *paid, v))
		}
	}
	return nil
}

// setCSPPlan gives an account the CSP plan when its partner is a CSP and it is an
// admin agent (R20), and takes it away otherwise.
func (b *supportPlansBatch) setCSPPlan(k accountKey, v rowVersions) error {
	partner, ok := b.partners.get(k.mpnID)
	if !ok {
		return fmt.Errorf("account %s of partner %s, which was never enrolled", k.userID, k.mpnID)
	}
	acc, _ := b.accounts.get(k)
	pk := planKey{k.userID, k.mpnID, cspPlanID}
	switch {
	case partner.CSP && acc.AdminAgent:
		b.putPlan(supportPlanRow{UserID: k.userID, MPNID: k.mpnID, PlanID: cspPlanID, Plan: string(domain.PlanCSP),
			Status: poolActive, rowVersions: v})
	case b.plans[pk] != nil || b.cspHad[k]:
		b.setPlan(pk, nil)
	}
	return nil
}

func poolPlanRow(userID string, p supportPoolRow, v rowVersions) supportPlanRow {
	from, to := p.ValidFrom, p.ValidTo
	return supportPlanRow{UserID: userID, MPNID: p.MPNID, PlanID: p.ContractID + "/" + p.PoolKind, Plan: p.PoolKind,
		ContractID: p.ContractID, Ordinal: int64(p.PoolIndex), ValidFrom: &from, ValidTo: &to, rowVersions: v}
}

func paidPlanRow(userID string, p supportPaidRow, v rowVersions) supportPlanRow {
	from, to := p.ValidFrom, p.ValidTo
	return supportPlanRow{UserID: userID, MPNID: p.MPNID, PlanID: p.PaidPlanID, Plan: p.Plan, PaidPlanID: p.PaidPlanID,
		Ordinal: p.Ordinal, ValidFrom: &from, ValidTo: &to, Status: poolActive, rowVersions: v}
}

func (b *supportPlansBatch) putPlan(r supportPlanRow) {
	b.setPlan(planKey{r.UserID, r.MPNID, r.PlanID}, &r)
}

func (b *supportPlansBatch) setPlan(k planKey, r *supportPlanRow) {
	if _, seen := b.plans[k]; !seen {
		b.planOrder = append(b.planOrder, k)
	}
	b.plans[k] = r
}

// write stores the helper rows, removes withdrawn CSP plans, brings every existing
// plan row of a changed pool to the pool's figures, and writes the new plan rows.
func (b *supportPlansBatch) write(ctx context.Context, tx bun.Tx, t Tables) error {
	if err := upsertRows(ctx, tx, t, supportPlanPartnersTable, b.partners.changed()); err != nil {
		return err
	}
	if err := upsertRows(ctx, tx, t, supportPlanAccountsTable, b.accounts.changed()); err != nil {
		return err
	}
	if err := upsertRows(ctx, tx, t, supportPlanPaidTable, b.paid.changed()); err != nil {
		return err
	}
	pools := b.pools.changed()
	if err := upsertRows(ctx, tx, t, supportPlanPoolsTable, pools); err != nil {
		return err
	}
	for _, p := range pools {
		if b.poolNew[poolKey{p.ContractID, p.PoolKind}] {
			continue // its plan rows, if any, are new too, and written below
		}
		remaining, status := poolFigures(p.Granted, p.Used)
		if _, err := execPrepared(ctx, tx, "UPDATE "+quoteTable(t[supportPlansTable])+
			" SET used = ?, remaining = ?, status = ?, projection_version = ?, rules_version = ? WHERE contract_id = ? AND plan = ?",
			p.Used, remaining, status, p.ProjectionVersion, p.RulesVersion, p.ContractID, p.PoolKind); err != nil {
			return fmt.Errorf("update %s: %w", t[supportPlansTable], err)
		}
	}
	rows := make([]supportPlanRow, 0, len(b.plans))
	for _, k := range b.planOrder {
		r := b.plans[k]
		if r == nil {
			if _, err := tx.NewDelete().Model((*supportPlanRow)(nil)).ModelTableExpr("?", t.Ident(supportPlansTable)).
				Where("user_id = ?", k.userID).Where("mpn_id = ?", k.mpnID).Where("plan_id = ?", k.planID).Exec(ctx); err != nil {
				return fmt.Errorf("delete from %s: %w", t[supportPlansTable], err)
			}
			continue
		}
		if r.ContractID != "" {
			b.withPoolFigures(k, r)
		}
		rows = append(rows, *r)
	}
	return upsertRows(ctx, tx, t, supportPlansTable, rows)
}

// withPoolFigures brings a new plan row of a pool to the pool's figures at the end of
// the batch, and to its versions if an incident came after the link.
func (b *supportPlansBatch) withPoolFigures(k planKey, r *supportPlanRow) {
	pk := poolKey{r.ContractID, r.Plan}
	pool, _ := b.pools.get(pk)
	r.Granted, r.Used = cloneInt(pool.Granted), pool.Used
	r.Remaining, r.Status = poolFigures(pool.Granted, pool.Used)
	if b.poolAt[pk] > b.planAt[k] {
		r.rowVersions = pool.rowVersions
	}
}
