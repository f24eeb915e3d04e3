package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/privacy"
	"ledger/infra/sqlstore"
	"ledger/projections"
)

// keysDB is where the per-subject keys live: the event store's SQL database, or for
// EventStoreDB (which has no tables) the read database. nil when this process has
// neither (a forwarder in front of EventStoreDB, which never reads personal data).
func (p *process) keysDB() *bun.DB {
	if s, ok := p.eventSQL(); ok {
		return s.DB()
	}
	return p.readDB
}

// eventSQL is the SQL event store under the metrics wrapper, if the backend is one.
func (p *process) eventSQL() (*sqlstore.Store, bool) {
	s, ok := p.sqlStore.(*sqlstore.Store)
	return s, ok && s != nil
}

// addPersonalData installs crypto-shredding in the codec: from here on personal
// members of events are stored sealed per subject and read back opened (or as
// "erased:<ref>"). It runs before anything encodes or decodes events. A serving
// process follows erasures made elsewhere every followEvery; 0 (a CLI command) does not.
func (p *process) addPersonalData(ctx context.Context, followEvery time.Duration) error {
	db := p.keysDB()
	if db == nil {
		return nil
	}
	keys, err := privacy.OpenKeys(ctx, db)
	if err != nil {
		return fmt.Errorf("personal data keys: %w", err)
	}
	p.shredder = privacy.NewShredder(keys)
	restore := domain.UsePersonalData(p.shredder)
	p.closers = append(p.closers, func() error { restore(); return nil })
	if followEvery > 0 {
		// Another process may erase a subject: follow the erasures so this one stops
		// reading it too (the key evicted, the cached states holding its plaintext dropped).
		p.background = append(p.background, func(ctx context.Context) error {
			return privacy.FollowErasures(ctx, p.store, keys, followEvery, func(_ string, live bool) {
				if p.executor != nil {
					p.executor.ForgetStates()
				}
				if p.runner != nil { // events its read models share, decoded before the erasure
					p.runner.ForgetDecoded()
				}
				// Until it followed the erasure this process may have saved snapshots of
				// states holding the subject's plaintext, after the erasing process had
				// deleted them: delete them again (erasures are rare; a snapshot only
				// shortens a cold start).
				if s, ok := p.sqlStore.(snapshotDeleter); ok && live && p.executor != nil {
					if err := s.DeleteSnapshots(ctx); err != nil {
						p.deps.Logger.Error("snapshots not deleted after an erasure made elsewhere", "err", err)
					}
				}
			}, p.deps.Logger)
		})
	}
	return nil
}

// snapshotDeleter is an event store that keeps snapshots and can drop them all.
type snapshotDeleter interface {
	DeleteSnapshots(ctx context.Context) error
}

// addErasures serves POST /v1/privacy/erasures. After the key is gone it drops every
// copy of plaintext the process keeps: cached states, snapshots, the read models
// (rebuilt from the log, which now reads the subject as erased), on SQLite the free
// pages of both databases, and the rebuild reports in the data directory.
// It returns nil when the process does not shred (no route then).
func (p *process) addErasures(cfg Config, logger *slog.Logger, opts wireOptions) *handlers.PrivacyAPI {
	if p.shredder == nil {
		return nil
	}
	followUps := []func(ctx context.Context) error{func(context.Context) error {
		p.executor.ForgetStates()
		if p.runner != nil { // before the read models are rebuilt: what they share decoded
			p.runner.ForgetDecoded()
		}
		return nil
	}}
	if s, ok := p.sqlStore.(snapshotDeleter); ok { // SQL tables, or EventStoreDB's $snapshot- streams
		followUps = append(followUps, s.DeleteSnapshots)
	}
	if s, ok := p.eventSQL(); ok {
		followUps = append(followUps, privacy.Compact(s.DB(), privacy.KeysTable, sqlstore.SnapshotTable))
	}
	followUps = append(followUps, func(ctx context.Context) error {
		for _, rm := range projections.All() {
			if _, err := projections.RebuildAndCompare(ctx, p.readDB, p.store, rm, projections.RebuildOptions{Logger: logger}); err != nil {
				return fmt.Errorf("rebuild %s: %w", rm.Name(), err)
			}
		}
		return nil
	}, privacy.Compact(p.readDB)) // every read-model table (and the keys, under EventStoreDB)
	// Last: every follow-up above wrote to the WAL too.
	if s, ok := p.eventSQL(); ok {
		followUps = append(followUps, privacy.PurgeWAL(s.DB()))
	}
	followUps = append(followUps, privacy.PurgeWAL(p.readDB))
	eraser := privacy.NewEraser(p.shredder, p.store, followUps...)
	if cfg.DataDir != "" { // old rebuild reports sample read-model rows as they were
		eraser.ScrubbingFilesIn(filepath.Join(cfg.DataDir, projections.ReportDir))
	}
	return &handlers.PrivacyAPI{Eraser: eraser, Now: opts.now}
}
