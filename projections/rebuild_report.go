package projections

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ReportDir is where rebuild reports go under a data directory.
const ReportDir = "rebuild-reports"

// WriteReport writes rep as indented JSON to <dataDir>/rebuild-reports/
// <projection>-<finished, UTC>.json (via a temporary file, so a reader never sees half a
// report) and returns the path.
func WriteReport(dataDir string, rep RebuildReport) (string, error) {
	dir := filepath.Join(dataDir, ReportDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("rebuild report: %w", err)
	}
	stamp := strings.ReplaceAll(rep.FinishedAt.UTC().Format("20060102T150405.000000Z"), ".", "")
	kind := ""
	if rep.DryRun {
		kind = "-dry-run"
	}
	path := filepath.Join(dir, rep.Projection+"-"+stamp+kind+".json")
	body, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", fmt.Errorf("rebuild report: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(body, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("rebuild report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("rebuild report: %w", err)
	}
	return path, nil
}
