package projections

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/uptrace/bun"
)

// Tables maps a projection's logical table names to the physical tables of one
// generation: "remaining_incidents" -> "remaining_incidents_g1". Projections write to the
// physical tables; readers (queries, dashboards) read the logical name, a view over the
// live generation, so a rebuild can fill generation N+1 beside it and swap the views.
type Tables map[string]string

// TablesFor names p's tables in generation gen.
func TablesFor(p Projection, gen int) Tables {
	t := make(Tables, len(p.Tables()))
	for _, logical := range p.Tables() {
		t[logical] = PhysicalName(logical, gen)
	}
	return t
}

// PhysicalName is the table of one generation: "<logical>_g<gen>".
func PhysicalName(logical string, gen int) string {
	return logical + "_g" + strconv.Itoa(gen)
}

// Ident quotes the physical table of a logical name for bun's "?" placeholders. A name the
// projection did not declare quotes as "undeclared table <name>", so the database's error
// names the mistake.
func (t Tables) Ident(logical string) bun.Ident {
	if name, ok := t[logical]; ok {
		return bun.Ident(name)
	}
	return bun.Ident("undeclared table " + logical)
}

// Index names an index on a table of this generation; index names are global in both
// SQLite and PostgreSQL, so they must carry the generation too.
func (t Tables) Index(logical, suffix string) string {
	return t[logical] + "_" + suffix
}

// identPattern keeps projection and table names plain SQL identifiers, also valid as
// NATS consumer names.
var identPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

func checkIdent(kind, name string) error {
	if !identPattern.MatchString(name) {
		return fmt.Errorf("%s name %q: want lower-case letters, digits and _ (at most 48), starting with a letter", kind, name)
	}
	return nil
}

// pointViews makes every logical name of p a view over generation gen.
func pointViews(ctx context.Context, db bun.IDB, p Projection, gen int) error {
	for _, logical := range p.Tables() {
		if _, err := db.NewRaw("DROP VIEW IF EXISTS ?", bun.Ident(logical)).Exec(ctx); err != nil {
			return fmt.Errorf("drop view %s: %w", logical, err)
		}
		if _, err := db.NewRaw("CREATE VIEW ? AS SELECT * FROM ?",
			bun.Ident(logical), bun.Ident(PhysicalName(logical, gen))).Exec(ctx); err != nil {
			return fmt.Errorf("create view %s over generation %d: %w", logical, gen, err)
		}
	}
	return nil
}

// dropGeneration drops p's physical tables of generation gen, if they exist.
func dropGeneration(ctx context.Context, db bun.IDB, p Projection, gen int) error {
	for _, logical := range p.Tables() {
		if _, err := db.NewRaw("DROP TABLE IF EXISTS ?", bun.Ident(PhysicalName(logical, gen))).Exec(ctx); err != nil {
			return fmt.Errorf("drop %s generation %d: %w", logical, gen, err)
		}
	}
	return nil
}
