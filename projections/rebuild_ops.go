package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
)

// Operations is what ops do to the read models of one read database: list them with
// their lag and rebuild one. The CLI and the HTTP routes both use it.
type Operations struct {
	DB          *bun.DB
	Store       RebuildSource
	Projections []Projection // All() when nil
	// DataDir receives rebuild reports under rebuild-reports/; "" writes none.
	DataDir string
	Logger  *slog.Logger
	// Answers are the answers this process keeps (ReadModels.Answers), forgotten once a
	// rebuild swapped a new generation in: its rows changed, maybe under the same
	// checkpoint. nil keeps none.
	Answers *AnswerCache
}

// ProjectionOverview is one read model as GET /v1/ops/projections lists it. Lag in
// events assumes the SQL stores' positions (one per event); lag in seconds is how long
// the oldest event not yet applied has been waiting (0 when caught up).
type ProjectionOverview struct {
	Name        string  `json:"name"`
	Version     int     `json:"version"`     // the version of the code that built the live tables
	CodeVersion int     `json:"codeVersion"` // the version this binary would build
	Generation  int     `json:"generation"`
	Checkpoint  string  `json:"checkpoint"`
	Head        string  `json:"head"`
	LagEvents   int64   `json:"lagEvents"`
	LagSeconds  float64 `json:"lagSeconds"`
	State       string  `json:"state"` // live | degraded | rebuilding | failed | not-set-up
	Error       string  `json:"error,omitempty"`
	DeadLetters int     `json:"deadLetters"`
	// Partitions: each partition's checkpoint, lag and the projector that last
	// committed it (by partner, --projection-partitions; one for an unsplit model).
	Partitions []PartitionOverview `json:"partitions"`
	Rebuild    *RebuildStatus      `json:"rebuild,omitempty"` // the latest rebuild, if any
	// RebuildProgress is the share of the log the running rebuild has folded (0..1).
	RebuildProgress *float64 `json:"rebuildProgress,omitempty"`
}

// PartitionOverview is one partition of a read model in the overview.
type PartitionOverview struct {
	Partition  int    `json:"partition"`
	Checkpoint string `json:"checkpoint"`
	LagEvents  int64  `json:"lagEvents"`
	// Owner is the projector process (host:pid) that last moved the checkpoint; empty
	// until one has.
	Owner string `json:"owner"`
}

// NotSetUp is the state of a projection this binary knows but the database has not seen.
const NotSetUp = "not-set-up"

func (o *Operations) projections() []Projection {
	if o.Projections == nil {
		return All()
	}
	return o.Projections
}

// Find returns the projection named name.
func (o *Operations) Find(name string) (Projection, bool) {
	for _, p := range o.projections() {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

// Overview lists every projection with its progress against the head of the log.
func (o *Operations) Overview(ctx context.Context) ([]ProjectionOverview, error) {
	head, err := o.Store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("projections overview: head: %w", err)
	}
	states, err := NewCheckpoints(o.DB).States(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]State{}
	for _, st := range states {
		byName[st.Name] = st
	}
	out := []ProjectionOverview{}
	for _, p := range o.projections() {
		ov := ProjectionOverview{Name: p.Name(), CodeVersion: p.Version(), Head: head.String(), State: NotSetUp, Partitions: []PartitionOverview{}}
		if st, ok := byName[p.Name()]; ok {
			ov.Version, ov.Generation, ov.Checkpoint = st.Version, st.Generation, st.Checkpoint.String()
			ov.State, ov.Error, ov.DeadLetters = string(st.Status), st.Error, st.DeadLetters
			if err := o.lag(ctx, &ov, st.Checkpoint, head); err != nil {
				return nil, err
			}
			for k, cp := range st.Partitions {
				po := PartitionOverview{Partition: k, Checkpoint: cp.String(), Owner: st.Owners[k]}
				if cp.Less(head) {
					po.LagEvents = int64(head.Commit) - int64(cp.Commit)
				}
				ov.Partitions = append(ov.Partitions, po)
			}
		}
		rs, ok, err := LatestRebuild(ctx, o.DB, p.Name())
		if err != nil {
			return nil, err
		}
		if ok {
			ov.Rebuild = &rs
			if rs.Active() {
				ov.State = string(StatusRebuilding)
				if rs.Head.Commit > 0 {
					share := min(float64(rs.Position.Commit)/float64(rs.Head.Commit), 1)
					ov.RebuildProgress = &share
				}
			}
		}
		out = append(out, ov)
	}
	return out, nil
}

func (o *Operations) lag(ctx context.Context, ov *ProjectionOverview, at, head eventstore.Position) error {
	if !at.Less(head) {
		return nil
	}
	ov.LagEvents = int64(head.Commit) - int64(at.Commit)
	for ev, err := range o.Store.ReadAll(ctx, at) {
		if err != nil {
			return fmt.Errorf("projections overview: lag: %w", err)
		}
		ov.LagSeconds = max(time.Since(ev.RecordedAt).Seconds(), 0)
		break
	}
	return nil
}

// ErrReportNotWritten: the rebuild finished (and swapped, unless a dry run) but its
// report could not be written under the data directory. The report returned with it is
// whole; the new generation, if swapped, is live.
var ErrReportNotWritten = errors.New("rebuild report not written")

// Rebuild rebuilds the projection named name (RebuildAndCompare) and writes its report
// under DataDir; it returns the report and the report file ("" when none is written).
// A report that cannot be written after the swap is ErrReportNotWritten, returned with
// the report: the swap stands and the caller must say so.
func (o *Operations) Rebuild(ctx context.Context, name string, opts RebuildOptions) (RebuildReport, string, error) {
	p, ok := o.Find(name)
	if !ok {
		return RebuildReport{}, "", fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	if opts.Logger == nil {
		opts.Logger = o.Logger
	}
	rep, err := RebuildAndCompare(ctx, o.DB, o.Store, p, opts)
	if rep.Swapped {
		o.Answers.Forget()
	}
	if err != nil || o.DataDir == "" {
		return rep, "", err
	}
	path, err := WriteReport(o.DataDir, rep)
	if err != nil {
		return rep, "", fmt.Errorf("%w: %w", ErrReportNotWritten, err)
	}
	return rep, path, nil
}
