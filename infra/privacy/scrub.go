package privacy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ScrubbingFilesIn makes every erasure also rewrite the files under dirs (rebuild
// reports, whose sample rows quote read models as they were) that name the subject,
// with the subject replaced by its erased marker. A missing dir holds nothing to scrub.
func (e *Eraser) ScrubbingFilesIn(dirs ...string) *Eraser {
	e.scrubDirs = append(e.scrubDirs, dirs...)
	return e
}

// scrubFiles replaces subject by erased in every file under the scrub dirs, as written
// and as JSON escapes it. Each file is replaced whole (a temporary file renamed over
// it), so a reader never sees half a file.
func (e *Eraser) scrubFiles(subject, erased string) error {
	quoted, err := json.Marshal(subject)
	if err != nil {
		return err
	}
	forms := [][]byte{[]byte(subject), quoted[1 : len(quoted)-1]}
	for _, dir := range e.scrubDirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			return scrubFile(path, forms, []byte(erased))
		})
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("scrub %s: %w", dir, err)
		}
	}
	return nil
}

func scrubFile(path string, forms [][]byte, erased []byte) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	scrubbed := body
	for _, f := range forms {
		scrubbed = bytes.ReplaceAll(scrubbed, f, erased)
	}
	if bytes.Equal(scrubbed, body) {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".scrub"
	if err := os.WriteFile(tmp, scrubbed, info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
