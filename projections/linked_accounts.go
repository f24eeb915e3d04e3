package projections

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// LinkedAccountsName is the read model of which accounts are linked to which contract.
const LinkedAccountsName = "linked_accounts"

// LinkedAccountsProjection keeps one row per (contract, account): the account type, when
// it was linked and by whom (R12). A link lasts as long as the contract (R13), so rows
// are never removed; whether the contract still gives incidents is in
// remaining_incidents.
type LinkedAccountsProjection struct{}

// linkedAccountsVersion 2: the index the per-contract list is paged by.
const linkedAccountsVersion = 2

type linkedAccountRow struct {
	bun.BaseModel `bun:"table:linked_accounts,alias:la"`

	ContractID  string    `bun:"contract_id,pk"`
	UserID      string    `bun:"user_id,pk"`
	MPNID       string    `bun:"mpn_id,notnull"`
	AccountType string    `bun:"account_type,notnull"`
	LinkedAt    time.Time `bun:"linked_at,notnull"`
	LinkedBy    string    `bun:"linked_by,notnull"`
	// LinkPosition is the global position of the link event: it orders links as made,
	// and (with user_id) is the key their list is paged by.
	LinkPosition int64 `bun:"link_position,notnull"`
	rowVersions
}

var linkedAccountsEvents = typesOf(domain.ContractLinked{})

func (LinkedAccountsProjection) Name() string     { return LinkedAccountsName }
func (LinkedAccountsProjection) Version() int     { return linkedAccountsVersion }
func (LinkedAccountsProjection) Tables() []string { return []string{LinkedAccountsName} }

// Create makes the table; by_contract serves the per-contract list page by page in
// link order, by_user the per-account query.
func (LinkedAccountsProjection) Create(ctx context.Context, db bun.IDB, t Tables) error {
	return createTable[linkedAccountRow](ctx, db, t, LinkedAccountsName,
		index{"by_contract", "contract_id, link_position, user_id"}, index{"by_user", "user_id"})
}

// Apply records each link: a batch is one bulk write. Linking again records no event
// (R17); should a second link of one account to one contract ever arrive, the row shows
// the latest.
func (LinkedAccountsProjection) Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error {
	return applyReadModel(ctx, tx, t, batch, linkedAccountsEvents, newLinkedAccountsBatch)
}

type contractUserKey struct{ contractID, userID string }

// linkedAccountsBatch is the unit of work of one Apply: links only create rows, so it
// loads nothing.
type linkedAccountsBatch struct {
	rows *rowSet[contractUserKey, linkedAccountRow]
}

func newLinkedAccountsBatch() readModelBatch {
	return &linkedAccountsBatch{rows: newRowSet[contractUserKey, linkedAccountRow]()}
}

func (*linkedAccountsBatch) load(context.Context, bun.Tx, Tables, []decoded) error { return nil }

func (b *linkedAccountsBatch) evolve(d decoded) error {
	e := d.event.(domain.ContractLinked)
	b.rows.put(contractUserKey{e.ContractID, e.UserID}, linkedAccountRow{
		ContractID: e.ContractID, UserID: e.UserID, MPNID: e.MPNID, AccountType: string(e.AccountType),
		LinkedAt: utc(e.OccurredAt), LinkedBy: e.LinkedBy, LinkPosition: int64(d.position.Commit),
		rowVersions: versionsOf(linkedAccountsVersion, e),
	})
	return nil
}

func (b *linkedAccountsBatch) write(ctx context.Context, tx bun.Tx, t Tables) error {
	return upsertRows(ctx, tx, t, LinkedAccountsName, b.rows.changed())
}
