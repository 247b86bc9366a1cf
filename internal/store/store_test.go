package store

import (
	"path/filepath"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

func TestMigrationsRunOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
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
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	a := hangar.Tenant{Name: "a", Role: hangar.RoleUser, Entitlements: []string{"msdn", "x"}}
	if err := db.CreateTenant(ctx, &a, "hash-a"); err != nil {
		t.Fatal(err)
	}
	b := hangar.Tenant{Name: "a", Role: hangar.RoleUser}
	if err := db.CreateTenant(ctx, &b, "hash-b"); hangar.ErrorCode(err) != hangar.CodeConflict {
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
