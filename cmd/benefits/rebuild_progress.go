package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"ledger/projections"
)

// plainProgressEvery spaces the progress lines written to a pipe or a file.
const plainProgressEvery = 5 * time.Second

// rebuildProgress shows a rebuild's progress on stderr: a bar redrawn in place on a
// terminal; on anything else (a pipe, a file, a CI log) a plain line now and then,
// since carriage-return frames only make sense to a terminal. Both show one rate, the
// rebuild's own (projections.RebuildProgress.Rate), and the ETA derived from it.
type rebuildProgress struct {
	w        io.Writer
	name     string
	bar      *progressbar.ProgressBar // nil: plain lines
	lastLine time.Time
	last     projections.RebuildProgress
	seen     bool
}

func newRebuildProgress(w io.Writer, name string) *rebuildProgress {
	p := &rebuildProgress{w: w, name: name}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		p.bar = newRebuildBar(w, name)
	}
	return p
}

// newRebuildBar draws positions done of the head; the rate and ETA are in its
// description, so the bar's own (a second, differently averaged rate, and a predicted
// time) are off.
func newRebuildBar(w io.Writer, name string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30))
}

func (p *rebuildProgress) update(pr projections.RebuildProgress) {
	p.last, p.seen = pr, true
	if p.bar != nil {
		p.bar.ChangeMax64(max(int64(pr.Head.Commit), 1))
		p.bar.Describe(p.describe(pr))
		_ = p.bar.Set64(int64(pr.Position.Commit))
		return
	}
	if now := time.Now(); now.Sub(p.lastLine) >= plainProgressEvery {
		p.lastLine = now
		fmt.Fprintln(p.w, p.line(pr))
	}
}

// finish ends the bar's line, or writes the last state as a plain line. A nil
// rebuildProgress (--no-progress) does nothing.
func (p *rebuildProgress) finish() {
	switch {
	case p == nil:
	case p.bar != nil:
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	case p.seen:
		fmt.Fprintln(p.w, p.line(p.last))
	}
}

func (p *rebuildProgress) describe(pr projections.RebuildProgress) string {
	return fmt.Sprintf("%s gen %d: %.0f events/s, ETA %s", p.name, pr.Generation, pr.Rate, pr.ETA.Round(time.Second))
}

func (p *rebuildProgress) line(pr projections.RebuildProgress) string {
	return fmt.Sprintf("%s: position %d of %d, %d events", p.describe(pr), pr.Position.Commit, pr.Head.Commit, pr.Events)
}
