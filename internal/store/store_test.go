package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// databases gives each test a fresh database of every kind Hangar supports.
func databases(t *testing.T) map[string]string {
	return map[string]string{
		"sqlite":   filepath.Join(t.TempDir(), "db"),
		"postgres": pgtest.DSN(t),
	}
}

// TestConcurrentMigrations starts several stores on one new PostgreSQL database at
// once, as several nodes would: every migration must be applied exactly once.
func TestConcurrentMigrations(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(t.Context(), dsn)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
	files, _ := migrationFS.ReadDir("migrations")
	if n != len(files) {
		t.Fatalf("%d migrations recorded, want %d", n, len(files))
	}
}

func TestMigrationsRunOnce(t *testing.T) {
	for kind, path := range databases(t) {
		t.Run(kind, func(t *testing.T) { migrateTwice(t, path) })
	}
}

func migrateTwice(t *testing.T, path string) {
	for range 2 {
		db, err := Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		files, _ := migrationFS.ReadDir("migrations")
		if n != len(files) {
			t.Fatalf("%d migrations recorded, want %d", n, len(files))
		}
		db.Close()
	}
}

func TestRebind(t *testing.T) {
	d := &DB{dialect: dialect{numbered: true}}
	if got := d.rebind(`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`); got != `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)` {
		t.Fatalf("rebind: %s", got)
	}
	d.dialect.numbered = false
	if got := d.rebind(`b = ?`); got != `b = ?` {
		t.Fatalf("rebind for sqlite changed the query: %s", got)
	}
}

func TestSplitSQL(t *testing.T) {
	got := splitSQL("-- comment\nCREATE TABLE a (\n x INT\n);\n\nCREATE INDEX i ON a (x);\n")
	if len(got) != 2 || got[0] != "CREATE TABLE a (\n x INT\n)" || got[1] != "CREATE INDEX i ON a (x)" {
		t.Fatalf("splitSQL: %q", got)
	}
}

func TestTenantKeysAndScoping(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) { tenantKeysAndScoping(t, dsn) })
	}
}

func tenantKeysAndScoping(t *testing.T, dsn string) {
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	a := hangar.Tenant{Name: "a", Role: hangar.RoleUser, Entitlements: []string{"msdn", "x"}}
	if err := db.CreateTenant(ctx, &a, NewKey{Hash: "hash-a"}); err != nil {
		t.Fatal(err)
	}
	b := hangar.Tenant{Name: "a", Role: hangar.RoleUser}
	if err := db.CreateTenant(ctx, &b, NewKey{Hash: "hash-b"}); hangar.ErrorCode(err) != hangar.CodeConflict {
		t.Fatalf("duplicate tenant name: %v", err)
	}
	got, err := db.TenantByKeyHash(ctx, "hash-a")
	if err != nil || got.ID != a.ID || len(got.Entitlements) != 2 {
		t.Fatalf("TenantByKeyHash: %+v %v", got, err)
	}
	if _, err := db.TenantByKeyHash(ctx, "hash-b"); err != ErrNotFound {
		t.Fatalf("the failed tenant's key was stored: %v", err)
	}
	if _, err := db.DiskByName(ctx, a.ID, "nope"); hangar.ErrorCode(err) != hangar.CodeDiskNotFound {
		t.Fatalf("missing disk: %v", err)
	}
}

func TestIsUnavailable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("constraint failed"), false},
		{&pgconn.PgError{Code: "23505"}, false}, // unique violation: the request's fault
		{&pgconn.PgError{Code: "57P01"}, true},  // admin shutdown
		{&pgconn.PgError{Code: "08006"}, true},  // connection failure
		{fmt.Errorf("query: %w", driver.ErrBadConn), true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{io.ErrUnexpectedEOF, true}, // PostgreSQL went away in the middle of a reply
	}
	for _, tt := range tests {
		if got := IsUnavailable(tt.err); got != tt.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestSQLiteSynchronousFull: every connection of the pool commits with
// synchronous=FULL, so that a commit Hangar acknowledged survives a power loss
// (with WAL and NORMAL, the last commits before it can be undone).
func TestSQLiteSynchronousFull(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Hold several connections at once so that the pool cannot hand back one
	// connection each time.
	for i := range 4 {
		conn, err := db.db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var mode int
		if err := conn.QueryRowContext(t.Context(), `PRAGMA synchronous`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != 2 {
			t.Errorf("connection %d: PRAGMA synchronous = %d, want 2 (FULL)", i, mode)
		}
	}
}

// txLazy commits without flushing on its own, and leaves the database as durable
// as before for every other transaction: on SQLite the connection it borrowed goes
// back to the pool with synchronous=FULL (the pool is one connection here, so the
// next transaction gets that same one); on PostgreSQL only its own transaction
// commits asynchronously.
func TestTxLazyIsLazyForItselfOnly(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		db.db.SetMaxOpenConns(1)
		q := "PRAGMA synchronous" // 1 NORMAL, 2 FULL
		lazy, durable := "1", "2"
		if db.dialect.name == "postgres" {
			q, lazy, durable = "SHOW synchronous_commit", "off", "on"
		}
		setting := func(tx *sql.Tx) string {
			var v string
			if err := tx.QueryRowContext(ctx, q).Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		for range 2 {
			var in, after string
			if err := db.txLazy(ctx, func(tx *sql.Tx) error { in = setting(tx); return nil }); err != nil {
				t.Fatal(err)
			}
			if err := db.tx(ctx, func(tx *sql.Tx) error { after = setting(tx); return nil }); err != nil {
				t.Fatal(err)
			}
			if in != lazy || after != durable {
				t.Fatalf("%s: %q inside txLazy (want %q), %q in the next transaction (want %q)", q, in, lazy, after, durable)
			}
		}
		// A failing lazy transaction restores it too.
		if err := db.txLazy(ctx, func(*sql.Tx) error { return errors.New("no") }); err == nil {
			t.Fatal("txLazy returned nil for a failing fn")
		}
		var after string
		if err := db.tx(ctx, func(tx *sql.Tx) error { after = setting(tx); return nil }); err != nil {
			t.Fatal(err)
		}
		if after != durable {
			t.Fatalf("after a failed txLazy: %q, want %q", after, durable)
		}
	})
}

// eachDatabase runs test as a subtest on a fresh store of every kind Hangar
// supports (databases), closed when the subtest ends.
func eachDatabase(t *testing.T, test func(t *testing.T, db *DB)) {
	t.Helper()
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			db, err := Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			test(t, db)
		})
	}
}
