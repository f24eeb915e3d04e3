package projections

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/sqldb"
)

// TableDiff compares one logical table of two generations, row by row on the primary
// key: rows only in the new one (added), only in the old one (removed), and in both
// with any column different (changed), each with a sample of up to SampleSize rows in
// key order. Counts are computed by the database; memory holds only the samples.
type TableDiff struct {
	Table      string   `json:"table"`
	Key        []string `json:"key"`
	RowsBefore int64    `json:"rowsBefore"`
	RowsAfter  int64    `json:"rowsAfter"`
	Added      int64    `json:"added"`
	Removed    int64    `json:"removed"`
	Changed    int64    `json:"changed"`
	// ColumnsAdded and ColumnsRemoved list schema changes between the generations;
	// only the columns both have are compared.
	ColumnsAdded   []string         `json:"columnsAdded,omitempty"`
	ColumnsRemoved []string         `json:"columnsRemoved,omitempty"`
	AddedRows      []map[string]any `json:"addedSample"`
	RemovedRows    []map[string]any `json:"removedSample"`
	ChangedRows    []RowChange      `json:"changedSample"`
}

// RowChange is one changed row: its key and, per differing column, before and after.
type RowChange struct {
	Key     map[string]any          `json:"key"`
	Columns map[string]ColumnChange `json:"columns"`
}

// ColumnChange is a column's value in the old and the new generation.
type ColumnChange struct {
	Before any `json:"before"`
	After  any `json:"after"`
}

// Same reports whether the two generations hold the same rows.
func (d TableDiff) Same() bool { return d.Added == 0 && d.Removed == 0 && d.Changed == 0 }

// diffTables compares table before (the live generation) with after (the rebuilt one).
func diffTables(ctx context.Context, db bun.IDB, logical, before, after string, sample int) (TableDiff, error) {
	d := TableDiff{Table: logical, AddedRows: []map[string]any{}, RemovedRows: []map[string]any{}, ChangedRows: []RowChange{}}
	oldCols, _, err := tableColumns(ctx, db, before)
	if err != nil {
		return d, err
	}
	newCols, key, err := tableColumns(ctx, db, after)
	if err != nil {
		return d, err
	}
	if len(key) == 0 || slices.ContainsFunc(key, func(k string) bool { return !slices.Contains(oldCols, k) }) {
		key = common(oldCols, newCols) // no usable key: whole rows are the identity
	}
	d.Key = key
	cols := common(oldCols, newCols)
	d.ColumnsAdded, d.ColumnsRemoved = minus(newCols, oldCols), minus(oldCols, newCols)
	values := minus(cols, key)

	o, n := quote(before), quote(after)
	join := make([]string, len(key))
	for i, k := range key {
		join[i] = fmt.Sprintf("o.%s = n.%s", quote(k), quote(k))
	}
	on := strings.Join(join, " AND ")
	differs := "1 = 0"
	if len(values) > 0 {
		ds := make([]string, len(values))
		for i, c := range values {
			ds[i] = fmt.Sprintf("o.%s IS DISTINCT FROM n.%s", quote(c), quote(c))
		}
		differs = "(" + strings.Join(ds, " OR ") + ")"
	}
	order := qualified("n", key)

	counts := []struct {
		dst   *int64
		query string
	}{
		{&d.RowsBefore, "SELECT count(*) FROM " + o},
		{&d.RowsAfter, "SELECT count(*) FROM " + n},
		{&d.Added, fmt.Sprintf("SELECT count(*) FROM %s n WHERE NOT EXISTS (SELECT 1 FROM %s o WHERE %s)", n, o, on)},
		{&d.Removed, fmt.Sprintf("SELECT count(*) FROM %s o WHERE NOT EXISTS (SELECT 1 FROM %s n WHERE %s)", o, n, on)},
		{&d.Changed, fmt.Sprintf("SELECT count(*) FROM %s n JOIN %s o ON %s WHERE %s", n, o, on, differs)},
	}
	for _, c := range counts {
		if err := db.QueryRowContext(ctx, c.query).Scan(c.dst); err != nil {
			return d, fmt.Errorf("diff %s: %w", logical, err)
		}
	}
	if d.Added > 0 {
		q := fmt.Sprintf("SELECT %s FROM %s n WHERE NOT EXISTS (SELECT 1 FROM %s o WHERE %s) ORDER BY %s LIMIT %d",
			qualified("n", cols), n, o, on, order, sample)
		if d.AddedRows, err = sampleRows(ctx, db, q, cols); err != nil {
			return d, fmt.Errorf("diff %s: added: %w", logical, err)
		}
	}
	if d.Removed > 0 {
		q := fmt.Sprintf("SELECT %s FROM %s o WHERE NOT EXISTS (SELECT 1 FROM %s n WHERE %s) ORDER BY %s LIMIT %d",
			qualified("o", cols), o, n, on, qualified("o", key), sample)
		if d.RemovedRows, err = sampleRows(ctx, db, q, cols); err != nil {
			return d, fmt.Errorf("diff %s: removed: %w", logical, err)
		}
	}
	if d.Changed > 0 {
		q := fmt.Sprintf("SELECT %s, %s FROM %s n JOIN %s o ON %s WHERE %s ORDER BY %s LIMIT %d",
			qualified("o", cols), qualified("n", cols), n, o, on, differs, order, sample)
		if d.ChangedRows, err = sampleChanges(ctx, db, q, cols, key); err != nil {
			return d, fmt.Errorf("diff %s: changed: %w", logical, err)
		}
	}
	return d, nil
}

// tableColumns lists a physical table's columns in order and its primary key.
func tableColumns(ctx context.Context, db bun.IDB, table string) (cols, key []string, err error) {
	var rows *sql.Rows
	if sqldb.DialectOf(db) == sqldb.Postgres {
		rows, err = db.QueryContext(ctx, `SELECT c.column_name, coalesce(k.ordinal_position, 0)
			FROM information_schema.columns c
			LEFT JOIN information_schema.table_constraints tc ON tc.table_schema = c.table_schema
				AND tc.table_name = c.table_name AND tc.constraint_type = 'PRIMARY KEY'
			LEFT JOIN information_schema.key_column_usage k ON k.constraint_schema = tc.constraint_schema
				AND k.constraint_name = tc.constraint_name AND k.column_name = c.column_name
			WHERE c.table_schema = current_schema() AND c.table_name = ? ORDER BY c.ordinal_position`, table)
	} else {
		rows, err = db.QueryContext(ctx, "SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", table)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	type col struct {
		name string
		pk   int
	}
	var pks []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.name, &c.pk); err != nil {
			return nil, nil, fmt.Errorf("columns of %s: %w", table, err)
		}
		cols = append(cols, c.name)
		if c.pk > 0 {
			pks = append(pks, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, nil, fmt.Errorf("columns of %s: no such table", table)
	}
	slices.SortFunc(pks, func(a, b col) int { return a.pk - b.pk })
	for _, c := range pks {
		key = append(key, c.name)
	}
	return cols, key, nil
}

func sampleRows(ctx context.Context, db bun.IDB, query string, cols []string) ([]map[string]any, error) {
	out := []map[string]any{}
	err := scanRows(ctx, db, query, len(cols), func(vals []any) {
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			row[c] = vals[i]
		}
		out = append(out, row)
	})
	return out, err
}

func sampleChanges(ctx context.Context, db bun.IDB, query string, cols, key []string) ([]RowChange, error) {
	out := []RowChange{}
	err := scanRows(ctx, db, query, 2*len(cols), func(vals []any) {
		ch := RowChange{Key: map[string]any{}, Columns: map[string]ColumnChange{}}
		for i, c := range cols {
			before, after := vals[i], vals[len(cols)+i]
			switch {
			case slices.Contains(key, c):
				ch.Key[c] = after
			case !reflect.DeepEqual(before, after):
				ch.Columns[c] = ColumnChange{Before: before, After: after}
			}
		}
		out = append(out, ch)
	})
	return out, err
}

// scanRows reads every row of query as n plain values (bytes as text, times in UTC).
func scanRows(ctx context.Context, db bun.IDB, query string, n int, each func([]any)) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			switch v := v.(type) {
			case []byte:
				vals[i] = string(v)
			case time.Time:
				vals[i] = v.UTC()
			}
		}
		each(vals)
	}
	return rows.Err()
}

// quote makes an identifier safe in both dialects.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func qualified(alias string, cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + quote(c)
	}
	return strings.Join(out, ", ")
}

func common(a, b []string) []string {
	var out []string
	for _, c := range b {
		if slices.Contains(a, c) {
			out = append(out, c)
		}
	}
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, c := range a {
		if !slices.Contains(b, c) {
			out = append(out, c)
		}
	}
	return out
}
