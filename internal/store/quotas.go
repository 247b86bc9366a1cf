package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// limitColumns are the columns of tenant_limits, in the order of hangar.Quotas.
var limitColumns = []string{"stored_bytes", "total_virtual_size", "disks", "images", "vms", "vcpus", "memory_mib", "uploads"}

// SetDefaultLimits sets the limits of tenants that have none of their own (the serve
// flags). Call it before the store serves requests. Without it nothing is limited.
func (d *DB) SetDefaultLimits(l hangar.Resources) { d.defaults = hangar.NormalizeLimits(l) }

// DefaultLimits returns the limits of tenants that have none of their own.
func (d *DB) DefaultLimits() hangar.Resources { return d.defaults }

// TenantQuota returns the limits in force for a tenant, the names of those set for
// it (the others are the defaults), and what it uses.
func (d *DB) TenantQuota(ctx context.Context, tenantID string) (limits, use hangar.Resources, custom []string, err error) {
	if limits, custom, err = d.tenantLimits(ctx, d.db, tenantID); err != nil {
		return
	}
	use, err = d.usage(ctx, d.db, tenantID)
	return
}

// tenantLimits reads a tenant's own limits over the defaults.
func (d *DB) tenantLimits(ctx context.Context, q querier, tenantID string) (hangar.Resources, []string, error) {
	limits, custom := d.defaults, []string{}
	vals := make([]sql.NullInt64, len(limitColumns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := d.queryRow(ctx, q, `SELECT `+strings.Join(limitColumns, ", ")+` FROM tenant_limits WHERE tenant_id = ?`, tenantID).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return limits, custom, nil
	}
	if err != nil {
		return limits, nil, err
	}
	for i, qt := range hangar.Quotas {
		if vals[i].Valid {
			qt.Set(&limits, vals[i].Int64)
			custom = append(custom, qt.Name)
		}
	}
	return hangar.NormalizeLimits(limits), custom, nil
}

// usage adds up what a tenant holds, as hangar.Resources defines it.
func (d *DB) usage(ctx context.Context, q querier, tenantID string) (hangar.Resources, error) {
	var u hangar.Resources
	var vmDisks int64
	err := d.queryRow(ctx, q, `SELECT
		(SELECT COALESCE(SUM(stored_bytes), 0) FROM disks WHERE tenant_id = ?),
		(SELECT COALESCE(SUM(virtual_size), 0) FROM disks WHERE tenant_id = ?),
		(SELECT COUNT(*) FROM disks WHERE tenant_id = ?),
		(SELECT COALESCE(SUM(vd.virtual_size), 0) FROM vm_disks vd JOIN vms v ON v.id = vd.vm_id WHERE v.tenant_id = ?),
		(SELECT COUNT(*) FROM images WHERE tenant_id = ?),
		(SELECT COUNT(*) FROM vms WHERE tenant_id = ?),
		(SELECT COALESCE(SUM(vcpus), 0) FROM vms WHERE tenant_id = ? AND power_state <> 'generalized'),
		(SELECT COALESCE(SUM(memory_mib), 0) FROM vms WHERE tenant_id = ? AND power_state <> 'generalized'),
		(SELECT COUNT(*) FROM uploads WHERE tenant_id = ?)`,
		tenantID, tenantID, tenantID, tenantID, tenantID, tenantID, tenantID, tenantID, tenantID).
		Scan(&u.StoredBytes, &u.TotalVirtualSize, &u.Disks, &vmDisks, &u.Images, &u.VMs, &u.VCPUs, &u.MemoryMiB, &u.Uploads)
	u.TotalVirtualSize += vmDisks
	return u, err
}

// checkQuota refuses, inside tx and before tx writes anything, a change that adds
// add to the tenant's use past one of its limits. It first takes the tenant's quota
// lock, so that of two transactions racing for a tenant's last unit of quota, on
// any number of nodes, the second counts the first's rows: on PostgreSQL a row
// lock on the tenant held until tx ends (FOR NO KEY UPDATE, which inserts of rows
// referencing the tenant do not wait for, so it cannot deadlock with them); on
// SQLite every write transaction holds the database's one write lock from its
// start (_txlock=immediate).
func (d *DB) checkQuota(ctx context.Context, tx *sql.Tx, tenantID string, add hangar.Resources) error {
	lock := ""
	if d.dialect.name == "postgres" {
		lock = " FOR NO KEY UPDATE"
	}
	var name string
	if err := d.queryRow(ctx, tx, `SELECT name FROM tenants WHERE id = ?`+lock, tenantID).Scan(&name); err != nil {
		return notFound(err)
	}
	limits, _, err := d.tenantLimits(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	if !limited(limits, add) {
		return nil // nothing added is limited: no need to add up the use
	}
	use, err := d.usage(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	return hangar.CheckQuota(name, limits, use, add)
}

// limited reports whether any quota that add adds to has a limit.
func limited(limits, add hangar.Resources) bool {
	for _, q := range hangar.Quotas {
		if q.Get(add) > 0 && q.Get(limits) > 0 {
			return true
		}
	}
	return false
}

// UpdateTenantLimits sets and resets a tenant's own limits; u must be normalized.
func (d *DB) UpdateTenantLimits(ctx context.Context, tenantID string, u hangar.TenantUpdate) error {
	var sets []string
	var args []any
	for i, q := range hangar.Quotas {
		if v, ok := u.Set[q.Name]; ok {
			sets, args = append(sets, limitColumns[i]+" = ?"), append(args, v)
		}
		for _, r := range u.Reset {
			if r == q.Name {
				sets = append(sets, limitColumns[i]+" = NULL")
			}
		}
	}
	if len(sets) == 0 {
		return fmt.Errorf("update tenant limits: nothing to change")
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := d.exec(ctx, tx, `INSERT INTO tenant_limits (tenant_id) VALUES (?) ON CONFLICT DO NOTHING`, tenantID); err != nil {
			return err
		}
		_, err := d.exec(ctx, tx, `UPDATE tenant_limits SET `+strings.Join(sets, ", ")+` WHERE tenant_id = ?`, append(args, tenantID)...)
		return err
	})
}

// UploadChunkCount returns how many distinct chunks an upload has received.
func (d *DB) UploadChunkCount(ctx context.Context, uploadID string) (int64, error) {
	var n int64
	err := d.queryRow(ctx, d.db, `SELECT COUNT(*) FROM upload_chunks WHERE upload_id = ?`, uploadID).Scan(&n)
	return n, err
}
