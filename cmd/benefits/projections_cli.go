package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"ledger/handlers"
	"ledger/projections"
)

const projectionsUsage = `Usage:
  benefits projections list [flags]
  benefits projections rebuild NAME [--dry-run] [--restart] [flags]

rebuild builds version N+1 of the read model NAME from the event store's log into new
tables while queries keep answering from version N, compares the two (rows added,
removed and changed, with samples), writes the report under <data-dir>/rebuild-reports/
and, unless --dry-run, swaps N+1 in and drops N. An interrupted rebuild resumes where it
stopped (--restart starts it afresh). Read models: %s.
`

func projectionNames() string {
	var names []string
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	return strings.Join(names, ", ")
}

// runProjections is `benefits projections list|rebuild`.
func runProjections(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	switch {
	case len(args) > 0 && args[0] == "list":
		return runProjectionsList(ctx, args[1:], env, stdout, stderr)
	case len(args) > 0 && args[0] == "rebuild":
		return runProjectionsRebuild(ctx, args[1:], env, stdout, stderr)
	}
	fmt.Fprintf(stderr, projectionsUsage, projectionNames())
	return usageError{errors.New("want: projections list, or projections rebuild NAME")}
}

func openOperations(ctx context.Context, cfg Config, stderr io.Writer) (*projections.Operations, func() error, error) {
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	p, err := opsProcess(ctx, cfg, logger, true)
	if err != nil {
		return nil, nil, err
	}
	return &projections.Operations{DB: p.readDB, Store: p.store, DataDir: cfg.DataDir, Logger: logger}, p.close, nil
}

func runProjectionsList(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	var cfg Config
	var remote remoteAPI
	output := "text"
	settings := append(append(storeSettings(&cfg), remoteSettings(&remote)...), outputSetting(&output))
	if err := parseSettings("projections list", "projections list [flags]", settings, args, env, stdout); err != nil {
		return err
	}
	if err := remote.check(); err != nil {
		return err
	}
	var list []projections.ProjectionOverview
	if remote.enabled() {
		var answer handlers.ProjectionsOverview
		if _, err := remote.call(ctx, http.MethodGet, "/v1/ops/projections", nil, &answer); err != nil {
			return err
		}
		list = answer.Projections
	} else {
		if err := requireExistingStores(ctx, cfg, true); err != nil {
			return err
		}
		ops, closeAll, err := openOperations(ctx, cfg, stderr)
		if err != nil {
			return err
		}
		defer closeAll()
		if list, err = ops.Overview(ctx); err != nil {
			return err
		}
	}
	if output == "json" {
		return writeJSON(stdout, handlers.ProjectionsOverview{Projections: list})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tGEN\tCHECKPOINT\tHEAD\tLAG\tLAG(s)\tSTATE\tDEAD\tREBUILD")
	for _, p := range list {
		rebuild := "-"
		if p.Rebuild != nil {
			rebuild = fmt.Sprintf("%s (gen %d, %d events)", p.Rebuild.Status, p.Rebuild.Generation, p.Rebuild.Events)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%.1f\t%s\t%d\t%s\n", p.Name, p.Version, p.Generation, p.Checkpoint,
			p.Head, p.LagEvents, p.LagSeconds, p.State, p.DeadLetters, rebuild)
	}
	return tw.Flush()
}

// writeJSON is --output json: one indented document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runProjectionsRebuild(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	var cfg Config
	var remote remoteAPI
	var opts projections.RebuildOptions
	quiet, output := false, "text"
	settings := append(append(storeSettings(&cfg), remoteSettings(&remote)...),
		setting{name: "dry-run", def: "false", noEnv: true, isBool: true, usage: "build and compare only; the live read model stays",
			apply: func(v string) (err error) { opts.DryRun, err = parseBool(v); return err }},
		setting{name: "restart", def: "false", noEnv: true, isBool: true, usage: "throw away an interrupted rebuild instead of resuming it",
			apply: func(v string) (err error) { opts.Restart, err = parseBool(v); return err }},
		setting{name: "no-progress", def: "false", noEnv: true, isBool: true, usage: "no progress on stderr",
			apply: func(v string) (err error) { quiet, err = parseBool(v); return err }},
		outputSetting(&output))
	positional, err := parseCommand("projections rebuild", "projections rebuild NAME [flags]", settings, args, env, stdout)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		fmt.Fprintf(stderr, projectionsUsage, projectionNames())
		return usageError{fmt.Errorf("projections rebuild: want one read model NAME, got %d arguments", len(positional))}
	}
	name := positional[0]
	if err := remote.check(); err != nil {
		return err
	}
	if remote.enabled() {
		return rebuildRemote(ctx, remote, name, opts, output, stdout)
	}
	ops, closeAll, err := openOperations(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	if _, ok := ops.Find(name); !ok {
		return usageError{fmt.Errorf("unknown read model %q; want one of %s", name, projectionNames())}
	}
	var progress *rebuildProgress
	if !quiet {
		progress = newRebuildProgress(stderr, name)
		opts.Progress = progress.update
	}
	rep, file, err := ops.Rebuild(ctx, name, opts)
	progress.finish()
	if errors.Is(err, projections.ErrReportNotWritten) {
		// The rebuild stands (swapped, unless a dry run): say so before the failure.
		printReport(stdout, rep, "")
		return fmt.Errorf("%s: the rebuild finished as above, but its report could not be written under --data-dir: %w", name, err)
	}
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(stdout, rebuildOutput{Report: rep, ReportFile: file})
	}
	printReport(stdout, rep, file)
	return nil
}

func printReport(w io.Writer, rep projections.RebuildReport, file string) {
	action := "swapped in; generation %d dropped"
	if rep.DryRun {
		action = "dry run: generation %d stays live, the new one was dropped"
	}
	fmt.Fprintf(w, "%s: generation %d built from %d events in %.1fs (%.0f events/s), compared at position %s; "+action+"\n",
		rep.Projection, rep.ToGeneration, rep.Events, rep.Seconds, rep.EventsPerSec, rep.ComparedAt, rep.FromGeneration)
	for _, t := range rep.Tables {
		fmt.Fprintf(w, "  %-24s rows %d -> %d: %d added, %d removed, %d changed\n", t.Table, t.RowsBefore, t.RowsAfter, t.Added, t.Removed, t.Changed)
		for _, c := range t.ChangedRows {
			fmt.Fprintf(w, "    changed %v: %v\n", c.Key, c.Columns)
		}
	}
	if file != "" {
		fmt.Fprintf(w, "report: %s\n", file)
	}
}

// rebuildOutput is what `projections rebuild --output json` prints.
type rebuildOutput struct {
	Report     projections.RebuildReport `json:"report"`
	ReportFile string                    `json:"reportFile,omitempty"`
}
