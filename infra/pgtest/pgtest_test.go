package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/uptrace/bun/driver/pgdriver"
)

func TestMain(m *testing.M) { Main(m) }

func TestEachDatabaseIsFreshAndSeparate(t *testing.T) {
	ctx := context.Background()
	a := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(NewDatabase(t))))
	defer a.Close()
	b := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(NewDatabase(t))))
	defer b.Close()

	if _, err := a.ExecContext(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	var n int
	if err := b.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("a table created in one test database shows up in another")
	}
	if err := a.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("table not in the database it was created in: n=%d err=%v", n, err)
	}
}

func TestMissingServerNamesThePackageToInstall(t *testing.T) {
	saved := binGlob
	binGlob = t.TempDir() + "/*/bin"
	defer func() { binGlob = saved }()
	_, err := findBinDir()
	if !errors.Is(err, errNoServer) || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Fatalf("got %v, want an error naming the postgresql package", err)
	}
}
