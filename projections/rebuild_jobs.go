package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"ledger/infra/broadcast"
)

// RebuildJobs runs ops rebuilds in the background of one process, so that an HTTP call
// starting one answers at once and the caller follows it through its status (or its
// stream of progress) instead of holding a request open for as long as it takes. One
// rebuild of a read model at a time: in this process by the job table, across
// processes by the rebuild's claim on projection_rebuilds.
type RebuildJobs struct {
	ops     *Operations
	ctx     context.Context // ends on Close: running rebuilds stop, resumable
	cancel  context.CancelFunc
	running sync.WaitGroup

	mu      sync.Mutex
	jobs    map[string]*rebuildJob
	order   []string          // job IDs, oldest first, for trimming
	byModel map[string]string // read model -> ID of its running job
}

// keptJobs bounds how many finished jobs' statuses a process keeps to answer.
const keptJobs = 50

// Rebuild job states.
const (
	JobRunning   = "running"
	JobSucceeded = "succeeded" // built and compared; swapped in unless a dry run
	JobFailed    = "failed"    // nothing swapped: the live read model is as it was
)

// RebuildJobStatus is a rebuild job as GET .../rebuilds/{id} answers it.
type RebuildJobStatus struct {
	ID         string `json:"id"`
	Projection string `json:"projection"`
	DryRun     bool   `json:"dryRun"`
	State      string `json:"state"` // running | succeeded | failed
	// Swapped is true once the rebuilt generation is live, whatever happened after
	// (the report file failing to be written does not undo it).
	Swapped bool `json:"swapped"`
	Resumed bool `json:"resumed"`
	// Events folded into the new generation so far (this run and any it resumed).
	Events   int64   `json:"events"`
	Position string  `json:"position"`
	Head     string  `json:"head"`
	Progress float64 `json:"progress"` // 0..1, the share of the log folded
	// EventsPerSecond and ETASeconds are over this run; ETA is 0 once caught up or
	// when the store gives no head.
	EventsPerSecond float64          `json:"eventsPerSecond"`
	ETASeconds      float64          `json:"etaSeconds"`
	Diff            []TableDiffCount `json:"diff,omitempty"`   // once compared
	Report          *RebuildReport   `json:"report,omitempty"` // once compared
	ReportFile      string           `json:"reportFile,omitempty"`
	// ReportError says why the report could not be written to the data directory; the
	// rebuild itself (and its swap, if Swapped) stands.
	ReportError string     `json:"reportError,omitempty"`
	Error       string     `json:"error,omitempty"`
	StartedAt   time.Time  `json:"startedAt"`
	FinishedAt  *time.Time `json:"finishedAt,omitempty"`
}

// TableDiffCount is one table of a rebuild's diff, counts only.
type TableDiffCount struct {
	Table   string `json:"table"`
	Before  int64  `json:"rowsBefore"`
	After   int64  `json:"rowsAfter"`
	Added   int64  `json:"added"`
	Removed int64  `json:"removed"`
	Changed int64  `json:"changed"`
}

// Done reports whether the job has finished, one way or the other.
func (s RebuildJobStatus) Done() bool { return s.State != JobRunning }

// rebuildJob is one job: its status, and a signal fired on every change of it.
type rebuildJob struct {
	name    string // the read model; fixed
	mu      sync.Mutex
	status  RebuildJobStatus
	changed *broadcast.Signal
}

func (j *rebuildJob) snapshot() (RebuildJobStatus, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status, j.changed.Wait()
}

func (j *rebuildJob) update(fn func(*RebuildJobStatus)) {
	j.mu.Lock()
	fn(&j.status)
	j.mu.Unlock()
	j.changed.Broadcast()
}

// NewRebuildJobs runs rebuilds through ops until Close.
func NewRebuildJobs(ops *Operations) *RebuildJobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &RebuildJobs{ops: ops, ctx: ctx, cancel: cancel, jobs: map[string]*rebuildJob{}, byModel: map[string]string{}}
}

// Close stops the running rebuilds (each is left resumable) and waits for them.
func (r *RebuildJobs) Close() {
	r.cancel()
	r.running.Wait()
}

// Start starts a rebuild of the read model named name and returns once it has claimed
// the rebuild (or failed to): ErrUnknownProjection, ErrRebuildRunning (here or in
// another process), or what else stopped it before it began.
func (r *RebuildJobs) Start(name string, opts RebuildOptions) (RebuildJobStatus, error) {
	if _, ok := r.ops.Find(name); !ok {
		return RebuildJobStatus{}, fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	job := &rebuildJob{name: name, changed: broadcast.New(), status: RebuildJobStatus{ID: uuid.NewString(), Projection: name,
		DryRun: opts.DryRun, State: JobRunning, StartedAt: time.Now().UTC()}}
	if err := r.add(job); err != nil {
		return RebuildJobStatus{}, err
	}
	claimed := make(chan struct{})
	var claimOnce sync.Once
	opts.Claimed = func(resumed bool) {
		job.update(func(s *RebuildJobStatus) { s.Resumed = resumed })
		claimOnce.Do(func() { close(claimed) })
	}
	opts.Progress = func(pr RebuildProgress) { job.update(func(s *RebuildJobStatus) { s.progressed(pr) }) }
	ended := make(chan struct{})
	var runErr error
	r.running.Go(func() {
		defer close(ended)
		rep, file, err := r.ops.Rebuild(r.ctx, name, opts)
		runErr = err
		r.finish(job, rep, file, err)
	})
	select {
	case <-claimed:
	case <-ended:
		select {
		case <-claimed:
		default: // it never began: no job to follow
			r.forget(job)
			return RebuildJobStatus{}, runErr
		}
	}
	st, _ := job.snapshot()
	return st, nil
}

func (r *RebuildJobs) forget(job *rebuildJob) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.jobs, job.status.ID)
	if i := len(r.order) - 1; i >= 0 && r.order[i] == job.status.ID {
		r.order = r.order[:i]
	}
}

func (r *RebuildJobs) add(job *rebuildJob) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := job.name
	if id, busy := r.byModel[name]; busy {
		return fmt.Errorf("%w (%s, job %s)", ErrRebuildRunning, name, id)
	}
	r.byModel[name] = job.status.ID
	r.jobs[job.status.ID] = job
	r.order = append(r.order, job.status.ID)
	for len(r.order) > keptJobs {
		if old := r.jobs[r.order[0]]; old != nil {
			if st, _ := old.snapshot(); !st.Done() {
				break
			}
		}
		delete(r.jobs, r.order[0])
		r.order = r.order[1:]
	}
	return nil
}

// finish records the outcome. A rebuild that swapped stays a success even if its
// report could not be written: the caller must learn that the new generation is live.
func (r *RebuildJobs) finish(job *rebuildJob, rep RebuildReport, file string, err error) {
	r.mu.Lock()
	delete(r.byModel, job.name)
	r.mu.Unlock()
	now := time.Now().UTC()
	job.update(func(s *RebuildJobStatus) {
		s.FinishedAt = &now
		s.ReportFile = file
		compared := err == nil || errors.Is(err, ErrReportNotWritten)
		if compared {
			s.State, s.Swapped, s.Report, s.Diff = JobSucceeded, rep.Swapped, &rep, diffCounts(rep.Tables)
			s.EventsPerSecond, s.ETASeconds, s.Progress = rep.EventsPerSec, 0, 1
		} else {
			s.State = JobFailed
		}
		switch {
		case errors.Is(err, ErrReportNotWritten):
			s.ReportError = err.Error()
		case err != nil:
			s.Error = err.Error()
		}
	})
}

func diffCounts(tables []TableDiff) []TableDiffCount {
	out := make([]TableDiffCount, len(tables))
	for i, t := range tables {
		out[i] = TableDiffCount{Table: t.Table, Before: t.RowsBefore, After: t.RowsAfter, Added: t.Added, Removed: t.Removed, Changed: t.Changed}
	}
	return out
}

func (s *RebuildJobStatus) progressed(pr RebuildProgress) {
	s.Events, s.Position, s.Head = pr.Events, pr.Position.String(), pr.Head.String()
	s.EventsPerSecond, s.ETASeconds = pr.Rate, pr.ETA.Seconds()
	if pr.Head.Commit > 0 {
		s.Progress = min(float64(pr.Position.Commit)/float64(pr.Head.Commit), 1)
	}
}

// Status is the job with this ID, of the read model named name; ok false if this
// process has no such job.
func (r *RebuildJobs) Status(name, id string) (RebuildJobStatus, bool) {
	st, _, ok := r.Watch(name, id)
	return st, ok
}

// Watch is the job's status now and a channel closed at its next change.
func (r *RebuildJobs) Watch(name, id string) (RebuildJobStatus, <-chan struct{}, bool) {
	r.mu.Lock()
	job, ok := r.jobs[id]
	r.mu.Unlock()
	if !ok || job.name != name {
		return RebuildJobStatus{}, nil, false
	}
	st, changed := job.snapshot()
	return st, changed, true
}
