package domain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const snapshotGolden = "testdata/partner-snapshot.golden"

// TestPartnerSnapshotVersionFollowsTheStateShape: the fingerprint of Partner's type and
// of the code that evolves it is recorded with PartnerSnapshotVersion. Changing either
// without bumping the version fails here, so a snapshot of the old shape cannot be read
// as a state of the new one. After bumping, run go test ./domain -run Snapshot -update.
func TestPartnerSnapshotVersionFollowsTheStateShape(t *testing.T) {
	got := fmt.Sprintf("version %d\nfingerprint %s\n", PartnerSnapshotVersion, partnerFingerprint(t))
	want, err := os.ReadFile(snapshotGolden)
	if *update {
		if err == nil && strings.HasPrefix(string(want), fmt.Sprintf("version %d\n", PartnerSnapshotVersion)) && string(want) != got {
			t.Fatalf("the Partner shape or Evolve changed: bump PartnerSnapshotVersion (now %d) before -update", PartnerSnapshotVersion)
		}
		if err := os.WriteFile(snapshotGolden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%v (run go test ./domain -run Snapshot -update to create it)", err)
	}
	if string(want) != got {
		t.Fatalf("Partner's shape or Evolve changed since snapshot version was recorded:\nrecorded %q\nnow      %q\n"+
			"bump domain.PartnerSnapshotVersion, then run go test ./domain -run Snapshot -update", want, got)
	}
}

// partnerFingerprint hashes Partner's type, field by field down to the leaves, and the
// source of Evolve, the folds, apply, and the incident log's changes and encodings.
func partnerFingerprint(t *testing.T) string {
	h := sha256.New()
	writeShape(h, reflect.TypeFor[Partner](), map[reflect.Type]bool{})
	for _, file := range []string{"partner.go", "incidents.go", "incidents_plist.go", "incidents_json.go"} {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(".", file), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && slices.Contains(fingerprinted, fn.Name.Name) {
				var b bytes.Buffer
				if err := printer.Fprint(&b, fset, fn); err != nil {
					t.Fatal(err)
				}
				h.Write(b.Bytes())
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fingerprinted are the functions that make a state or read and write its snapshot.
var fingerprinted = []string{"Evolve", "FoldOnto", "Fold", "FoldDeciding", "apply", "put", "close", "intern", "set",
	"MarshalJSON", "UnmarshalJSON", "MarshalJSONTo", "UnmarshalJSONFrom", "marshalKeptTo", "unmarshalKeptFrom", "unmarshalKeptList", "readKept",
	"usualID", "written", "compacted"}

func writeShape(w interface{ Write([]byte) (int, error) }, typ reflect.Type, seen map[reflect.Type]bool) {
	fmt.Fprintf(w, "%s(%s)", typ.Kind(), typ.String())
	// Types of other packages (time.Time) are named, not opened: their insides are not
	// ours and change with the Go release.
	if seen[typ] || typ.PkgPath() != "" && typ.PkgPath() != reflect.TypeFor[Partner]().PkgPath() {
		return
	}
	seen[typ] = true
	switch typ.Kind() {
	case reflect.Struct:
		for f := range typ.Fields() {
			fmt.Fprintf(w, "{%s %q:", f.Name, f.Tag)
			writeShape(w, f.Type, seen)
			w.Write([]byte("}"))
		}
	case reflect.Map:
		writeShape(w, typ.Key(), seen)
		writeShape(w, typ.Elem(), seen)
	case reflect.Slice, reflect.Array, reflect.Pointer:
		writeShape(w, typ.Elem(), seen)
	}
}
