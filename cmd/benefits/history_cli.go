package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"ledger/infra/audit"
)

const historyUsage = `Usage: benefits history export [flags]

Writes the event log (or one partner's events) as NDJSON, one event per line with its
metadata and hash, streaming: memory stays flat however long the log is.
`

// runHistory is `benefits history export [--partner ID] [--since RFC3339] [--out FILE]`.
func runHistory(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprint(stderr, historyUsage)
		return usageError{errors.New("want: history export")}
	}
	var cfg Config
	var remote remoteAPI
	var f audit.ExportFilter
	out := ""
	settings := append(append(storeSettings(&cfg), remoteSettings(&remote)...),
		setting{name: "partner", noEnv: true, usage: "export only this partner's events (its MPN ID)",
			apply: func(v string) error { f.MPNID = v; return nil }},
		setting{name: "since", noEnv: true, usage: "export only events recorded at or after this RFC 3339 instant",
			apply: func(v string) (err error) {
				if v != "" {
					f.Since, err = time.Parse(time.RFC3339Nano, v)
				}
				return err
			}},
		setting{name: "out", noEnv: true, usage: "file to write (replaced when done); empty or -: stdout",
			apply: func(v string) error { out = v; return nil }})
	if err := parseSettings("history export", "history export [flags]", settings, args[1:], env, stdout); err != nil {
		return err
	}
	if err := remote.check(); err != nil {
		return err
	}
	if remote.enabled() {
		return exportRemote(ctx, remote, f, out, stdout, stderr)
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	p, err := opsProcess(ctx, cfg, logger, false)
	if err != nil {
		return err
	}
	defer p.close()
	if out == "" || out == "-" {
		n, err := audit.Export(ctx, p.store, stdout, f)
		logger.Info("history exported", "events", n)
		return err
	}
	return exportToFile(out, stderr, func(w io.Writer) (int, error) { return audit.Export(ctx, p.store, w, f) })
}

// exportToFile writes export to a temporary file beside out, syncs it and renames it,
// so out is either the previous file or a complete export, never half of one.
func exportToFile(out string, stderr io.Writer, export func(w io.Writer) (int, error)) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := export(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return fmt.Errorf("export to %s: %w", out, err)
	}
	fmt.Fprintf(stderr, "exported %d events to %s\n", n, out)
	return nil
}
