package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// CreateTenant stores a new tenant with its first API key (its hash).
func (d *DB) CreateTenant(ctx context.Context, t *hangar.Tenant, key NewKey) error {
	t.ID = NewID()
	at := now()
	t.CreatedAt = fromMicros(at)
	return d.tx(ctx, func(tx *sql.Tx) error {
		_, err := d.exec(ctx, tx, `INSERT INTO tenants (id, name, role, entitlements, created_at) VALUES (?, ?, ?, ?, ?)`,
			t.ID, t.Name, string(t.Role), strings.Join(t.Entitlements, ","), at)
		if isUniqueViolation(err) {
			return hangar.Errorf(hangar.CodeConflict, "tenant %q already exists", t.Name)
		}
		if err != nil {
			return err
		}
		_, err = d.addKey(ctx, tx, t.ID, key)
		return err
	})
}

const tenantCols = `t.id, t.name, t.role, t.entitlements, t.created_at`

func scanTenant(row interface{ Scan(...any) error }) (hangar.Tenant, error) {
	var (
		t     hangar.Tenant
		role  string
		ents  string
		micro int64
	)
	if err := row.Scan(&t.ID, &t.Name, &role, &ents, &micro); err != nil {
		return t, err
	}
	t.Role = hangar.Role(role)
	t.Entitlements = []string{}
	if ents != "" {
		t.Entitlements = strings.Split(ents, ",")
	}
	t.CreatedAt = fromMicros(micro)
	return t, nil
}

// TenantByKeyHash finds the tenant holding the key.
func (d *DB) TenantByKeyHash(ctx context.Context, keyHash string) (hangar.Tenant, error) {
	t, err := scanTenant(d.queryRow(ctx, d.db, `SELECT `+tenantCols+` FROM tenants t JOIN api_keys k ON k.tenant_id = t.id WHERE k.key_hash = ?`, keyHash))
	return t, notFound(err)
}

// TenantByName finds a tenant by name.
func (d *DB) TenantByName(ctx context.Context, name string) (hangar.Tenant, error) {
	t, err := scanTenant(d.queryRow(ctx, d.db, `SELECT `+tenantCols+` FROM tenants t WHERE t.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return t, hangar.Errorf(hangar.CodeTenantNotFound, "tenant %q does not exist", name)
	}
	return t, err
}

// ListTenants lists every tenant by name.
func (d *DB) ListTenants(ctx context.Context) ([]hangar.Tenant, error) {
	rows, err := d.query(ctx, d.db, `SELECT `+tenantCols+` FROM tenants t ORDER BY t.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hangar.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
