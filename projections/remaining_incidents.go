package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// RemainingIncidentsName is the read model of incidents left per partner, contract and pool.
const RemainingIncidentsName = "remaining_incidents"

// RemainingIncidentsProjection keeps one row per (contract, pool): granted (NULL means
// unlimited), used, remaining (NULL means unlimited) and the contract's validity window.
//
// Its status column is the pool's event-driven state: "exhausted" once no incident is
// left in that pool (R22), else "active". Expiry needs no event, so it is not stored: a
// dashboard reading the table must treat a row as expired when now is outside
// [valid_from, valid_to); ReadModels.RemainingIncidents does that at query time, and
// rates a contract "exhausted" when every pool of it is (R13, R14).
type RemainingIncidentsProjection struct{}

const remainingIncidentsVersion = 1

// remainingIncidentRow is one pool of one contract.
type remainingIncidentRow struct {
	bun.BaseModel `bun:"table:remaining_incidents,alias:ri"`

	ContractID string    `bun:"contract_id,pk"`
	PoolKind   string    `bun:"pool_kind,pk"`
	MPNID      string    `bun:"mpn_id,notnull"`
	PoolIndex  int       `bun:"pool_index,notnull"` // the pool's place in the contract
	Granted    *int      `bun:"granted"`
	Used       int       `bun:"used,notnull"`
	Remaining  *int      `bun:"remaining"`
	ValidFrom  time.Time `bun:"valid_from,notnull"`
	ValidTo    time.Time `bun:"valid_to,notnull"` // exclusive
	Status     string    `bun:"status,notnull"`   // active | exhausted; expiry: compare valid_to with now
	rowVersions
}

type poolKey struct{ contractID, kind string }

// Pool statuses stored in the rows (expiry is decided at read time).
const (
	poolActive    = "active"
	poolExhausted = "exhausted"
)

// poolFigures gives remaining and status for granted and used (nil granted: unlimited).
func poolFigures(granted *int, used int) (remaining *int, status string) {
	if granted == nil {
		return nil, poolActive
	}
	left := max(*granted-used, 0)
	if left == 0 {
		return &left, poolExhausted
	}
	return &left, poolActive
}

var remainingIncidentsEvents = typesOf(domain.BenefitActivated{}, domain.IncidentOpened{})

func (RemainingIncidentsProjection) Name() string     { return RemainingIncidentsName }
func (RemainingIncidentsProjection) Version() int     { return remainingIncidentsVersion }
func (RemainingIncidentsProjection) Tables() []string { return []string{RemainingIncidentsName} }

// Create makes the table, indexed by partner for the per-partner query.
func (RemainingIncidentsProjection) Create(ctx context.Context, db bun.IDB, t Tables) error {
	return createTable[remainingIncidentRow](ctx, db, t, RemainingIncidentsName, index{"by_partner", "mpn_id"})
}

// Apply adds the pools of each activated contract and counts each incident against its
// pool (R22). Incidents that draw on no pool (R20, R21) leave the table alone.
func (RemainingIncidentsProjection) Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error {
	return applyReadModel(ctx, tx, t, batch, remainingIncidentsEvents, newRemainingIncidentsBatch)
}

// remainingIncidentsBatch is the unit of work of one Apply.
type remainingIncidentsBatch struct {
	rows *rowSet[poolKey, remainingIncidentRow]
}

func newRemainingIncidentsBatch() readModelBatch {
	return &remainingIncidentsBatch{rows: newRowSet[poolKey, remainingIncidentRow]()}
}

// load reads the pools of contracts the batch draws on but did not activate itself.
func (b *remainingIncidentsBatch) load(ctx context.Context, tx bun.Tx, t Tables, events []decoded) error {
	activated := map[string]bool{}
	var need set[string]
	for _, d := range events {
		switch e := d.event.(type) {
		case domain.BenefitActivated:
			activated[e.ContractID] = true
		case domain.IncidentOpened:
			if e.Pool != "" && !activated[e.ContractID] {
				need.add(e.ContractID)
			}
		}
	}
	return inChunks(need.list, func(ids []string) error {
		var found []remainingIncidentRow
		if err := selectRows(ctx, tx, t, RemainingIncidentsName, "contract_id", ids, &found); err != nil {
			return err
		}
		for _, r := range found {
			b.rows.loaded(poolKey{r.ContractID, r.PoolKind}, r)
		}
		return nil
	})
}

func (b *remainingIncidentsBatch) evolve(d decoded) error {
	switch e := d.event.(type) {
	case domain.BenefitActivated:
		for i, pool := range e.Pools {
			remaining, status := poolFigures(pool.Granted, 0)
			b.rows.put(poolKey{e.ContractID, string(pool.Kind)}, remainingIncidentRow{
				ContractID: e.ContractID, PoolKind: string(pool.Kind), MPNID: e.MPNID, PoolIndex: i,
				Granted: cloneInt(pool.Granted), Remaining: remaining, Status: status,
				ValidFrom: utc(e.ValidFrom), ValidTo: utc(e.ValidUntil),
				rowVersions: versionsOf(remainingIncidentsVersion, e),
			})
		}
	case domain.IncidentOpened:
		if e.Pool == "" {
			return nil
		}
		k := poolKey{e.ContractID, string(e.Pool)}
		r, ok := b.rows.get(k)
		if !ok {
			return fmt.Errorf("incident %s draws on pool %s of contract %s, which was never activated", e.IncidentID, e.Pool, e.ContractID)
		}
		r.Used++
		r.Remaining, r.Status = poolFigures(r.Granted, r.Used)
		r.rowVersions = versionsOf(remainingIncidentsVersion, e)
		b.rows.mark(k)
	}
	return nil
}

func (b *remainingIncidentsBatch) write(ctx context.Context, tx bun.Tx, t Tables) error {
	return upsertRows(ctx, tx, t, RemainingIncidentsName, b.rows.changed())
}
