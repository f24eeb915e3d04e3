package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/mod/sumdb/note"

	"ledger/infra/eventstore"
	"ledger/infra/transparency"
)

// transparencyProcess opens the event store (and for EventStoreDB the read database,
// where its tree is kept) and the publisher, with the server's key.
func transparencyProcess(ctx context.Context, cfg Config, stderr io.Writer) (*process, *transparency.Publisher, error) {
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	p, err := opsProcess(ctx, cfg, logger, cfg.EventStore.Backend == BackendESDB)
	if err != nil {
		return nil, nil, err
	}
	pub, err := p.openPublisher(ctx, cfg, logger)
	if err != nil {
		return nil, nil, errors.Join(err, p.close())
	}
	return p, pub, nil
}

// runAuditTransparency is `benefits audit checkpoint|proof inclusion|proof consistency|key`,
// the twins of the /v1/audit/checkpoint and /v1/audit/proof routes.
func runAuditTransparency(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	cmd := args[0]
	args = args[1:]
	if cmd == "proof" {
		if len(args) == 0 || (args[0] != "inclusion" && args[0] != "consistency") {
			return usageError{errors.New("want: audit proof inclusion|consistency")}
		}
		cmd, args = "proof "+args[0], args[1:]
	}
	var cfg Config
	var position string
	var size, from, to int64
	asJSON, output := false, "text"
	settings := append(storeSettings(&cfg), checkpointKeySettings(&cfg)...)
	sizeFlag := func(name, usage string, dst *int64) setting {
		return setting{name: name, noEnv: true, usage: usage, apply: func(v string) error {
			if v == "" {
				return nil
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return errors.New("want a tree size, a whole number from 1")
			}
			*dst = n
			return nil
		}}
	}
	switch cmd {
	case "checkpoint":
		settings = append(settings, setting{name: "json", def: "false", noEnv: true, usage: "the same as --output json: the note, size, root and verifier key (default: the signed note alone)",
			apply: func(v string) (err error) { asJSON, err = parseBool(v); return err }},
			outputSetting(&output))
	case "proof inclusion":
		settings = append(settings,
			setting{name: "position", noEnv: true, usage: "global position of the event to prove (required)",
				apply: func(v string) error { position = v; return nil }},
			sizeFlag("size", "tree size to prove against; empty: the size the tree reaches now", &size))
	case "proof consistency":
		settings = append(settings, sizeFlag("from", "the older tree size (required)", &from),
			sizeFlag("to", "the newer tree size; empty: the size the tree reaches now", &to))
	}
	if err := parseSettings("audit "+cmd, "audit "+cmd+" [flags]", settings, bareBools(args, "json"), env, stdout); err != nil {
		return err
	}
	asJSON = asJSON || output == "json"
	switch {
	case cmd == "proof inclusion" && position == "":
		return usageError{errors.New("--position is required")}
	case cmd == "proof consistency" && from == 0:
		return usageError{errors.New("--from is required")}
	}
	var pos eventstore.Position
	if position != "" {
		var err error
		if pos, err = eventstore.ParsePosition(position); err != nil {
			return usageError{fmt.Errorf("invalid --position: %w", err)}
		}
	}
	p, pub, err := transparencyProcess(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer p.close()
	if cmd == "key" {
		fmt.Fprintln(stdout, pub.VerifierKey())
		return nil
	}
	// Every other subcommand answers about the tree as of now: publish (or find) the
	// checkpoint of the log as it is, so the sizes asked about are covered.
	cp, err := pub.Publish(ctx)
	if err != nil {
		return err
	}
	switch cmd {
	case "checkpoint":
		if !asJSON {
			_, err := io.WriteString(stdout, cp.Note)
			return err
		}
		return printJSON(stdout, struct {
			transparency.Checkpoint
			VerifierKey string `json:"verifierKey"`
		}{cp, pub.VerifierKey()})
	case "proof inclusion":
		proof, err := pub.ProveInclusion(ctx, pos, cmp(size, cp.Size))
		if err != nil {
			return err
		}
		return printJSON(stdout, proof)
	default:
		proof, err := pub.ProveConsistency(ctx, from, cmp(to, cp.Size))
		if err != nil {
			return err
		}
		return printJSON(stdout, proof)
	}
}

// cmp is v, or otherwise when v is 0 (not given).
func cmp(v, otherwise int64) int64 {
	if v == 0 {
		return otherwise
	}
	return v
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errCheckpointNotExtended makes `audit verify --checkpoint` exit 1, for scripts.
var errCheckpointNotExtended = errors.New("today's log does not extend the checkpoint (see above)")

// verifyCheckpoint is `benefits audit verify --checkpoint FILE`.
func verifyCheckpoint(ctx context.Context, cfg Config, file, verifierKey string, asJSON bool, stdout, stderr io.Writer) error {
	signed, err := os.ReadFile(file)
	if err != nil {
		return usageError{fmt.Errorf("--checkpoint: %w", err)}
	}
	p, pub, err := transparencyProcess(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer p.close()
	verifier := pub.Key.Verifier
	if verifierKey != "" {
		if verifier, err = note.NewVerifier(verifierKey); err != nil {
			return usageError{fmt.Errorf("invalid --verifier-key: want name+hash+key: %w", err)}
		}
	}
	x, err := transparency.VerifyExtends(ctx, p.store, pub.Tree, signed, verifier)
	if err != nil {
		return err
	}
	switch {
	case asJSON:
		if err := printJSON(stdout, x); err != nil {
			return err
		}
	case x.Extends:
		fmt.Fprintf(stdout, "extends: the log's first %d events give the checkpoint's root (%s); the log holds %d\n", x.CheckpointSize, x.Origin, x.LogSize)
	default:
		fmt.Fprintf(stdout, "DOES NOT EXTEND the checkpoint of %d events (the log holds %d): %s\n", x.CheckpointSize, x.LogSize, x.FirstDiffering)
	}
	if !x.Extends {
		return errCheckpointNotExtended
	}
	return nil
}

// runAuditKeygen prints a new checkpoint signer key (keep it secret: it goes into
// --checkpoint-key or --checkpoint-key-file) and, on the next line, its verifier key.
func runAuditKeygen(args []string, env func(string) (string, bool), stdout io.Writer) error {
	origin := defaultCheckpointOrigin
	settings := []setting{{name: "origin", def: defaultCheckpointOrigin, noEnv: true,
		usage: "the log's name, the checkpoints' first line (a schema-less URL such as ledger.example.com/events is customary)",
		apply: func(v string) error { origin = v; return nil }}}
	if err := parseSettings("audit keygen", "audit keygen [flags]", settings, args, env, stdout); err != nil {
		return err
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return usageError{fmt.Errorf("invalid --origin %q: %w", origin, err)}
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		return usageError{fmt.Errorf("invalid --origin %q: no '+', spaces or newlines: %w", origin, err)}
	}
	fmt.Fprintf(stdout, "%s\n%s\n", skey, vkey)
	return nil
}
