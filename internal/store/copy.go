package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// tables lists every table of the schema, each after the tables it references, so
// that rows copied in this order always find what they point to. A test checks the
// list against the schema, so a migration cannot add a table that Copy would miss.
var tables = []string{
	"tenants", "api_keys", "disks", "disk_extents", "uploads", "upload_chunks",
	"images", "image_versions", "image_version_disks", "image_shares",
	"community_names", "community_images", "marketplace_publishers", "marketplace_entries",
	"terms_acceptances", "lost_chunks", "vms", "vm_disks", "hosts", "version_replicas",
	"tenant_limits",
	"chunk_deletions",
	"cluster_secrets",
	"arm_resources",
	"upstreams", "syndications", "syndication_jobs", "syndication_chunks", "syndication_manifests",
	"event_counter", "events", "webhooks", "event_deliveries",
	"hygiene_runs",
	"console_sessions",
}

// seeded are the tables a migration fills: the copy replaces their rows.
var seeded = map[string]bool{"event_counter": true}

// Copy copies every row of src into dst, whose schema must be at the same version
// and which must hold no data. It is one transaction on dst: a failure leaves dst as
// empty as it was. It returns the rows copied per table.
func Copy(ctx context.Context, src, dst *DB) (map[string]int64, error) {
	var n int
	if err := dst.queryRow(ctx, dst.db, `SELECT COUNT(*) FROM tenants`).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, fmt.Errorf("the target database already holds %d tenants: migrate into an empty database", n)
	}
	counts := map[string]int64{}
	err := dst.tx(ctx, func(tx *sql.Tx) error {
		for _, t := range tables {
			if seeded[t] {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
					return fmt.Errorf("table %s: %w", t, err)
				}
			}
			c, err := copyTable(ctx, src, dst, tx, t)
			if err != nil {
				return fmt.Errorf("table %s: %w", t, err)
			}
			counts[t] = c
		}
		return nil
	})
	return counts, err
}

func copyTable(ctx context.Context, src, dst *DB, tx *sql.Tx, table string) (int64, error) {
	rows, err := src.db.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name()
	}
	insert, err := tx.PrepareContext(ctx, dst.rebind(`INSERT INTO `+table+` (`+strings.Join(names, ", ")+`) VALUES (`+placeholders(len(cols))+`)`))
	if err != nil {
		return 0, err
	}
	defer insert.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, c := range cols {
			// SQLite keeps booleans as integers; PostgreSQL wants them typed.
			if v, ok := vals[i].(int64); ok && strings.EqualFold(c.DatabaseTypeName(), "BOOLEAN") {
				vals[i] = v != 0
			}
		}
		if _, err := insert.ExecContext(ctx, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// Counts returns the number of rows of every table, to compare two databases.
func (d *DB) Counts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := d.queryRow(ctx, d.db, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}
