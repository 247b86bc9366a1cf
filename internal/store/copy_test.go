package store

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

// TestCopyCoversEverySchemaTable fails when a migration adds a table that Copy (and
// so `hangar admin migrate-store`) would leave behind.
func TestCopyCoversEverySchemaTable(t *testing.T) {
	d, err := Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.strings(t.Context(), `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := slices.Clone(tables)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("schema tables %v, Copy copies %v", got, want)
	}
}

func TestCopySQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	src, err := Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	alice := hangar.Tenant{Name: "alice", Role: hangar.RoleUser}
	if err := src.CreateTenant(ctx, &alice, NewKey{Hash: "hash-of-alices-key"}); err != nil {
		t.Fatal(err)
	}
	// image_versions.exclude_from_latest is a boolean: SQLite stores it as a number.
	if _, err := src.exec(ctx, src.db, `INSERT INTO images (id, tenant_id, name, image_type, os_type, os_state, hyperv_generation, architecture, description, eula, created_at)
		VALUES ('i1', ?, 'web', 'os', 'linux', 'generalized', 'V1', 'x64', '', '', 1)`, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := src.exec(ctx, src.db, `INSERT INTO image_versions (id, image_id, major, minor, patch, exclude_from_latest, end_of_life, created_at)
		VALUES ('v1', 'i1', 1, 0, 0, ?, '', 1)`, true); err != nil {
		t.Fatal(err)
	}
	// A tenant's own limits: set ones and NULLs (the server's defaults) both survive.
	if err := src.UpdateTenantLimits(ctx, alice.ID, hangar.TenantUpdate{Set: map[string]int64{"vcpus": 3}}); err != nil {
		t.Fatal(err)
	}
	counts, err := Copy(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	dst.SetDefaultLimits(hangar.Resources{Disks: 7})
	if limits, _, custom, err := dst.TenantQuota(ctx, alice.ID); err != nil || limits.VCPUs != 3 || limits.Disks != 7 || len(custom) != 1 {
		t.Fatalf("alice's limits after the copy: %+v (custom %v), %v", limits, custom, err)
	}
	if counts["tenants"] != 1 || counts["image_versions"] != 1 {
		t.Fatalf("copied %v", counts)
	}
	if got, err := dst.TenantByKeyHash(ctx, "hash-of-alices-key"); err != nil || got.Name != "alice" {
		t.Fatalf("alice's key after the copy: %+v, %v", got, err)
	}
	var excluded bool
	if err := dst.queryRow(ctx, dst.db, `SELECT exclude_from_latest FROM image_versions WHERE id = 'v1'`).Scan(&excluded); err != nil || !excluded {
		t.Fatalf("boolean after the copy: %v, %v", excluded, err)
	}
	want, _ := src.Counts(ctx)
	got, _ := dst.Counts(ctx)
	for table, n := range want {
		if got[table] != n {
			t.Errorf("table %s: %d rows in the source, %d in the copy", table, n, got[table])
		}
	}
	// A second copy would mix two installations: refused, and nothing changes.
	if _, err := Copy(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "empty database") {
		t.Fatalf("copy into a non-empty database: %v", err)
	}
}
