package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"

	"ledger/infra/sqldb"
)

// On SQLite, the read models' loads and upserts run as statements prepared once per
// table and connection, bound to plain database/sql arguments, instead of queries bun
// builds by reflection and SQLite parses again on every batch: that building, parsing
// and scanning was ~15% of the server's CPU under command load (issue 10). The SQL and
// the values are what bun wrote before (column names, its time format), so rows written
// either way read back alike. PostgreSQL keeps bun's multi-row statements: there a
// statement per row would cost a round trip each.

// statementText holds the SQL of a row type's statements on a physical table, built
// once; bounded as the prepared statements are (maxPreparedStatements).
var statementText struct {
	sync.Mutex
	byKey map[statementKey]string
}

type statementKey struct {
	row      reflect.Type
	physical string
	column   string // the key column of a select; "" for an upsert
	rows     int    // the rows an upsert writes
}

func textOf(key statementKey, build func() string) string {
	statementText.Lock()
	defer statementText.Unlock()
	s, ok := statementText.byKey[key]
	if !ok {
		if statementText.byKey == nil || len(statementText.byKey) >= maxPreparedStatements {
			statementText.byKey = map[statementKey]string{}
		}
		s = build()
		statementText.byKey[key] = s
	}
	return s
}

// upsertText writes n rows: INSERT ... ON CONFLICT (pk) DO UPDATE SET every other column.
func upsertText(tbl *schema.Table, physical string, n int) string {
	cols := make([]string, len(tbl.Fields))
	marks := make([]string, len(tbl.Fields))
	for i, f := range tbl.Fields {
		cols[i], marks[i] = string(f.SQLName), "?"
	}
	pks := make([]string, len(tbl.PKs))
	for i, f := range tbl.PKs {
		pks[i] = string(f.SQLName)
	}
	update := "NOTHING"
	if len(tbl.DataFields) > 0 {
		sets := make([]string, len(tbl.DataFields))
		for i, f := range tbl.DataFields {
			sets[i] = string(f.SQLName) + " = EXCLUDED." + string(f.SQLName)
		}
		update = "UPDATE SET " + strings.Join(sets, ", ")
	}
	values := strings.TrimSuffix(strings.Repeat("("+strings.Join(marks, ", ")+"), ", n), ", ")
	return "INSERT INTO " + quoteTable(physical) + " (" + strings.Join(cols, ", ") + ") VALUES " + values +
		" ON CONFLICT (" + strings.Join(pks, ", ") + ") DO " + update
}

// selectInText reads the rows whose column is in a JSON array (json_each), whatever the
// number of keys: one statement instead of one per length of an IN list.
func selectInText(tbl *schema.Table, physical, column string) string {
	cols := make([]string, len(tbl.Fields))
	for i, f := range tbl.Fields {
		cols[i] = string(f.SQLName)
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteTable(physical) +
		" WHERE " + column + " IN (SELECT value FROM json_each(?))"
}

// quoteTable quotes a physical table name, a checked identifier (checkIdent, TablesFor).
func quoteTable(physical string) string { return `"` + physical + `"` }

// preparedIn is text prepared for tx's database (kept by preparedStatements), bound to
// tx: the transaction's statement keeps it open until the transaction is done, even if
// the keeper retires it meanwhile.
func preparedIn(ctx context.Context, tx bun.Tx, text string) (*sql.Stmt, error) {
	db := tx.NewRaw("").DB().DB // bun.Tx does not tell its database otherwise
	l, ok := preparedStatements.take(db, text)
	if !ok {
		if st := db.Stats(); st.MaxOpenConnections > 0 && st.InUse >= st.MaxOpenConnections {
			// Every connection is taken, tx's among them: preparing on the pool would
			// wait for one to come free, for ever on a pool of one. Prepare on tx's own
			// connection, for tx alone; a later transaction prepares for the pool.
			return tx.Tx.PrepareContext(ctx, text)
		}
		var err error
		if l, err = preparedStatements.prepare(ctx, db, text); err != nil {
			return nil, err
		}
	}
	defer l.release()
	return tx.Tx.StmtContext(ctx, l.kept.stmt), nil
}

// preparedTx is tx when the read model's statements run prepared on it: a transaction
// (or savepoint) of a SQLite read database.
func preparedTx(db bun.IDB) (bun.Tx, bool) {
	tx, ok := db.(bun.Tx)
	return tx, ok && sqldb.DialectOf(tx.NewRaw("").DB()) == sqldb.SQLite
}

// selectPrepared reads into dest the rows of physical whose column is one of keys.
func selectPrepared[R any](ctx context.Context, tx bun.Tx, physical, column string, keys []string, dest *[]R) error {
	tbl := tableOf[R](tx)
	text := textOf(statementKey{row: tbl.Type, physical: physical, column: column}, func() string { return selectInText(tbl, physical, column) })
	stmt, err := preparedIn(ctx, tx, text)
	if err != nil {
		return err
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]any, len(tbl.Fields))
	ptrs := make([]any, len(tbl.Fields))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		var r R
		rv := reflect.ValueOf(&r).Elem()
		for i, f := range tbl.Fields {
			if err := f.ScanValue(rv, vals[i]); err != nil { // as bun scans it
				return fmt.Errorf("column %s: %w", f.Name, err)
			}
		}
		*dest = append(*dest, r)
	}
	return rows.Err()
}

// upsertBlock is the rows of one execution of a prepared upsert: a rebuild's batch of
// hundreds of rows pays one execution per block (a statement per row cost a fifth
// more CPU than bun's one statement per batch), a live batch of a few rows one per row.
const upsertBlock = 32

// upsertPrepared writes rows into physical: blocks of upsertBlock rows, then the rest
// one by one, each shape of statement prepared once.
func upsertPrepared[R any](ctx context.Context, tx bun.Tx, physical string, rows []R) error {
	tbl := tableOf[R](tx)
	args := make([]any, 0, len(tbl.Fields)*upsertBlock)
	stmts := map[int]*sql.Stmt{} // by rows written, bound to tx
	for len(rows) > 0 {
		n := 1
		if len(rows) >= upsertBlock {
			n = upsertBlock
		}
		stmt := stmts[n]
		if stmt == nil {
			text := textOf(statementKey{row: tbl.Type, physical: physical, rows: n}, func() string { return upsertText(tbl, physical, n) })
			var err error
			if stmt, err = preparedIn(ctx, tx, text); err != nil {
				return err
			}
			stmts[n] = stmt
		}
		args = args[:0]
		for k := range n {
			rv := reflect.ValueOf(&rows[k]).Elem()
			for _, f := range tbl.Fields {
				args = append(args, sqliteValue(f.Value(rv)))
			}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// execPrepared runs text (with ? placeholders) on db: prepared on a SQLite
// transaction, formatted by bun else. ok is false when db is neither; then nothing ran.
// Arguments are strings and integers, which both write alike.
func execPrepared(ctx context.Context, db bun.IDB, text string, args ...any) (sql.Result, error) {
	if tx, ok := preparedTx(db); ok {
		stmt, err := preparedIn(ctx, tx, text)
		if err != nil {
			return nil, err
		}
		return stmt.ExecContext(ctx, args...)
	}
	return db.NewRaw(text, args...).Exec(ctx)
}

// timeArg is t as an argument of execPrepared: on SQLite in bun's text format, else as
// it is (bun formats it).
func timeArg(db bun.IDB, t time.Time) any {
	if _, ok := preparedTx(db); ok {
		return sqliteValue(reflect.ValueOf(t))
	}
	return t.UTC()
}

// bunSQLiteTime is how bun writes a time into SQLite (schema.BaseDialect.AppendTime).
const bunSQLiteTime = "2006-01-02 15:04:05.999999-07:00"

// sqliteValue is a read-model column's value as bun writes it into SQLite: times in
// bun's text format, nil pointers as NULL. (The row types hold strings, integers,
// booleans, times and pointers to ints and times.)
func sqliteValue(v reflect.Value) any {
	switch x := v.Interface().(type) {
	case time.Time:
		return x.UTC().Format(bunSQLiteTime)
	case *time.Time:
		if x == nil {
			return nil
		}
		return x.UTC().Format(bunSQLiteTime)
	case *int:
		if x == nil {
			return nil
		}
		return int64(*x)
	default:
		return x
	}
}
