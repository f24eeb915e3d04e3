package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// IncidentsName is the read model of every partner's support incidents.
const IncidentsName = "incidents"

// IncidentsProjection keeps one row per incident: what it was filed under (plan, and the
// contract and pool it drew on, R22; or a paid plan, R21; or the CSP plan, R20), the
// product, who opened it, and whether it is open or closed.
type IncidentsProjection struct{}

// incidentsVersion 2: the seq column and its indexes, the key the incident list is
// paged by. 3: severity and customer_country (IncidentOpened.v2; v1 rows read with the
// upcaster's defaults).
const incidentsVersion = 3

type incidentRow struct {
	bun.BaseModel `bun:"table:incidents,alias:inc"`

	IncidentID string `bun:"incident_id,pk"`
	MPNID      string `bun:"mpn_id,notnull"`
	// Seq is the incident's number at its partner (IN-<mpnId>-<seq>): it orders a
	// partner's incidents as opened, and is the key their list is paged by.
	Seq        int64      `bun:"seq,notnull"`
	Plan       string     `bun:"plan,notnull"`
	ContractID string     `bun:"contract_id,notnull"` // "" when no contract is involved
	Pool       string     `bun:"pool,notnull"`        // "" when it drew on no pool
	PaidPlanID string     `bun:"paid_plan_id,notnull"`
	Product    string     `bun:"product,notnull"`
	Version    string     `bun:"version,notnull"`
	CustomerID string     `bun:"customer_id,notnull"`
	Country    string     `bun:"customer_country,notnull"`
	Severity   string     `bun:"severity,notnull"`
	Title      string     `bun:"title,notnull"`
	Status     string     `bun:"status,notnull"` // open | closed
	OpenedBy   string     `bun:"opened_by,notnull"`
	OpenedAt   time.Time  `bun:"opened_at,notnull"`
	ClosedAt   *time.Time `bun:"closed_at"`
	ClosedBy   string     `bun:"closed_by,notnull"`
	Resolution string     `bun:"resolution,notnull"`
	// OpenedPosition is the global position of the opening event.
	OpenedPosition int64 `bun:"opened_position,notnull"`
	rowVersions
}

var incidentsEvents = typesOf(domain.IncidentOpened{}, domain.IncidentClosed{})

func (IncidentsProjection) Name() string     { return IncidentsName }
func (IncidentsProjection) Version() int     { return incidentsVersion }
func (IncidentsProjection) Tables() []string { return []string{IncidentsName} }

// Create makes the table, indexed for "a partner's incidents, in order, after this one"
// with and without the status filter, so a page reads only the rows it answers
// whatever the partner's number of incidents.
func (IncidentsProjection) Create(ctx context.Context, db bun.IDB, t Tables) error {
	return createTable[incidentRow](ctx, db, t, IncidentsName,
		index{"by_partner", "mpn_id, seq"}, index{"by_partner_status", "mpn_id, status, seq"})
}

// Apply inserts opened incidents and marks closed ones; closing gives nothing back (R22),
// so only this table changes.
func (IncidentsProjection) Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error {
	return applyReadModel(ctx, tx, t, batch, incidentsEvents, newIncidentsBatch)
}

// incidentsBatch is the unit of work of one Apply.
type incidentsBatch struct{ rows *rowSet[string, incidentRow] }

func newIncidentsBatch() readModelBatch {
	return &incidentsBatch{rows: newRowSet[string, incidentRow]()}
}

// load reads the incidents the batch closes but did not open.
func (b *incidentsBatch) load(ctx context.Context, tx bun.Tx, t Tables, events []decoded) error {
	opened := map[string]bool{}
	var need set[string]
	for _, d := range events {
		switch e := d.event.(type) {
		case domain.IncidentOpened:
			opened[e.IncidentID] = true
		case domain.IncidentClosed:
			if !opened[e.IncidentID] {
				need.add(e.IncidentID)
			}
		}
	}
	return inChunks(need.list, func(ids []string) error {
		var found []incidentRow
		if err := selectRows(ctx, tx, t, IncidentsName, "incident_id", ids, &found); err != nil {
			return err
		}
		for _, r := range found {
			b.rows.loaded(r.IncidentID, r)
		}
		return nil
	})
}

func (b *incidentsBatch) evolve(d decoded) error {
	switch e := d.event.(type) {
	case domain.IncidentOpened:
		seq, ok := domain.IncidentSeq(e.IncidentID)
		if !ok {
			return fmt.Errorf("incident %s: not an incident ID of the form IN-<mpnId>-<seq>", e.IncidentID)
		}
		b.rows.put(e.IncidentID, incidentRow{
			IncidentID: e.IncidentID, MPNID: e.MPNID, Seq: int64(seq), Plan: string(e.Plan), ContractID: e.ContractID,
			Pool: string(e.Pool), PaidPlanID: e.PaidPlanID, Product: e.Product, Version: e.Version,
			CustomerID: e.CustomerID, Country: e.CustomerCountry, Severity: string(e.Severity), Title: e.Title, Status: string(domain.IncidentStatusOpen),
			OpenedBy: e.OpenedBy, OpenedAt: utc(e.OccurredAt), OpenedPosition: int64(d.position.Commit),
			rowVersions: versionsOf(incidentsVersion, e),
		})
	case domain.IncidentClosed:
		r, ok := b.rows.get(e.IncidentID)
		if !ok {
			return fmt.Errorf("incident %s closed but never opened", e.IncidentID)
		}
		r.Status, r.ClosedAt = string(domain.IncidentStatusClosed), utcPtr(e.OccurredAt)
		r.ClosedBy, r.Resolution = e.ClosedBy, e.Resolution
		r.rowVersions = versionsOf(incidentsVersion, e)
		b.rows.mark(e.IncidentID)
	}
	return nil
}

func (b *incidentsBatch) write(ctx context.Context, tx bun.Tx, t Tables) error {
	return upsertRows(ctx, tx, t, IncidentsName, b.rows.changed())
}
