package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/mod/sumdb/note"

	"ledger/handlers"
	"ledger/infra/sqldb"
	"ledger/infra/transparency"
)

// checkpointKeyFileName is the generated checkpoint signing key inside the data directory.
const checkpointKeyFileName = "checkpoint.key"

// defaultCheckpointOrigin names the log in a generated key (the checkpoints' first line).
const defaultCheckpointOrigin = "benefits-ledger"

// CheckpointConfig is how the transparency log signs and publishes checkpoints.
type CheckpointConfig struct {
	Key      string // note signer key; empty: KeyFile
	KeyFile  string // empty: <data-dir>/checkpoint.key, generated once
	Every    int    // events between checkpoints; 0: not by count
	Interval time.Duration
	// A witness hook: a URL the checkpoints are POSTed to, a shell command they are
	// piped to; empty: none.
	WitnessURL     string
	WitnessCommand string
}

// checkpointKeySettings choose the signing key; serve and `audit` share them, so the
// CLI signs and verifies with the server's key.
func checkpointKeySettings(c *Config) []setting {
	return []setting{
		{name: "checkpoint-key", def: "", secret: true,
			usage: "Ed25519 note signer key the checkpoints are signed with (PRIVATE+KEY+<origin>+<hash>+<key>, as `benefits audit keygen` prints); empty: --checkpoint-key-file",
			apply: func(v string) error {
				if v != "" {
					if _, err := transparency.ParseKey(v); err != nil {
						return err
					}
				}
				c.Checkpoints.Key = v
				return nil
			}},
		{name: "checkpoint-key-file", def: "",
			usage: "file holding the checkpoint signer key (mode 0600); empty: <data-dir>/" + checkpointKeyFileName + ", generated once with origin " + defaultCheckpointOrigin,
			apply: func(v string) error { c.Checkpoints.KeyFile = v; return nil }},
	}
}

// checkpointScheduleSettings say when serve publishes and where checkpoints go.
func checkpointScheduleSettings(c *Config) []setting {
	return []setting{
		{name: "checkpoint-every", def: "1000", usage: "api: publish a signed checkpoint after this many new events (0: not by count)",
			apply: func(v string) (err error) {
				c.Checkpoints.Every, err = parseCount(v, 0, 100_000_000)
				return err
			}},
		{name: "checkpoint-interval", def: "1m", usage: "api: publish a signed checkpoint this often when the log has grown (0: not by time)",
			apply: func(v string) (err error) {
				if v == "0" {
					c.Checkpoints.Interval = 0
					return nil
				}
				c.Checkpoints.Interval, err = parseDuration(v, 24*time.Hour)
				return err
			}},
		{name: "checkpoint-witness-url", def: "", usage: "POST every new checkpoint to this witness (a C2SP tlog-witness add-checkpoint URL); empty: none",
			apply: func(v string) error {
				if v != "" {
					u, err := url.Parse(v)
					if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
						return errors.New("want an http:// or https:// URL")
					}
				}
				c.Checkpoints.WitnessURL = v
				return nil
			}},
		{name: "checkpoint-witness-command", def: "", usage: "run this shell command for every new checkpoint, the add-checkpoint request on its stdin; empty: none",
			apply: func(v string) error { c.Checkpoints.WitnessCommand = v; return nil }},
	}
}

// checkpointKey is the configured key, or the one in the key file, generated on first
// use like the JWT secret.
func checkpointKey(cfg Config) (transparency.Key, error) {
	if cfg.Checkpoints.Key != "" {
		return transparency.ParseKey(cfg.Checkpoints.Key)
	}
	path := cfg.Checkpoints.KeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, checkpointKeyFileName)
	}
	skey, err := loadOrCreateSecretFile(path, "checkpoint key", 1, func() (string, error) {
		skey, _, err := note.GenerateKey(rand.Reader, defaultCheckpointOrigin)
		return skey, err
	})
	if err != nil {
		return transparency.Key{}, err
	}
	key, err := transparency.ParseKey(string(skey))
	if err != nil {
		return transparency.Key{}, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// openTreeDB opens the database the Merkle tree is kept in: the event store's own SQL
// database (its own small pool), or for EventStoreDB, which has no tables, the read
// database. The tree is derived from the log and vouched for by the signed checkpoints,
// so where it sits adds no trust.
func (p *process) openTreeDB(ctx context.Context, cfg Config) (*bun.DB, error) {
	var db *bun.DB
	var err error
	switch cfg.EventStore.Backend {
	case BackendSQLite:
		db, err = sqldb.OpenSQLite(ctx, filepath.Join(cfg.DataDir, eventsFileName), sqldb.MaxConns(2))
	case BackendPostgres:
		db, err = sqldb.OpenPostgres(ctx, cfg.EventStore.DSN, sqldb.MaxConns(2))
	default:
		if p.readDB == nil {
			return nil, errors.New("the transparency log of an EventStoreDB store is kept in the read database, which this process has not opened")
		}
		return p.readDB, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the transparency log's database: %w", err)
	}
	p.closers = append(p.closers, db.Close)
	return db, nil
}

// openPublisher opens the tree and the publisher with the configured key and witness.
func (p *process) openPublisher(ctx context.Context, cfg Config, logger *slog.Logger) (*transparency.Publisher, error) {
	key, err := checkpointKey(cfg)
	if err != nil {
		return nil, err
	}
	db, err := p.openTreeDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	tree, err := transparency.OpenTree(ctx, db, p.store)
	if err != nil {
		return nil, err
	}
	pub := &transparency.Publisher{Tree: tree, Key: key, Logger: logger}
	switch {
	case cfg.Checkpoints.WitnessURL != "":
		pub.Witness = transparency.HTTPWitness{URL: cfg.Checkpoints.WitnessURL}
	case cfg.Checkpoints.WitnessCommand != "":
		pub.Witness = transparency.CommandWitness{Argv: []string{"sh", "-c", cfg.Checkpoints.WitnessCommand}}
	}
	return pub, nil
}

// addCheckpoints publishes checkpoints on schedule in the background and returns what
// serves them and their proofs (handlers.TransparencyRoutes, in apiRoutes).
func (p *process) addCheckpoints(ctx context.Context, cfg Config, logger *slog.Logger) (handlers.TransparencyAPI, error) {
	pub, err := p.openPublisher(ctx, cfg, logger)
	if err != nil {
		return handlers.TransparencyAPI{}, err
	}
	logger.Info("checkpoints are signed with", "verifier_key", pub.VerifierKey())
	schedule := transparency.Schedule{Every: cfg.Checkpoints.Every, Interval: cfg.Checkpoints.Interval}
	p.background = append(p.background, func(ctx context.Context) error { return pub.Run(ctx, p.store, schedule) })
	return handlers.TransparencyAPI{Log: pub}, nil
}
