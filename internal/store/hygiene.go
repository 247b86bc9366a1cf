package store

import (
	"context"
	"database/sql"

	"github.com/hangarvm/hangar/internal/chunks"
)

// ReferencedChunks calls fn for every digest a disk or a live upload references
// (a digest may come more than once).
func (d *DB) ReferencedChunks(ctx context.Context, fn func(chunks.Digest) error) error {
	rows, err := d.query(ctx, d.db, `SELECT digest FROM disk_extents UNION SELECT digest FROM upload_chunks`)
	if err != nil {
		return err
	}
	return scanDigests(rows, fn)
}

// scanDigests calls fn for each digest the rows hold, and closes them.
func scanDigests(rows *sql.Rows, fn func(chunks.Digest) error) error {
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		dg, err := chunks.ParseDigest(s)
		if err != nil {
			return err
		}
		if err := fn(dg); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ExpireUploads forgets uploads started before the given time (Unix microseconds)
// and returns how many.
func (d *DB) ExpireUploads(ctx context.Context, beforeMicros int64) (int64, error) {
	res, err := d.exec(ctx, d.db, `DELETE FROM uploads WHERE created_at < ?`, beforeMicros)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// DisksWithChunk names the disks (TENANT/DISK) holding a chunk.
func (d *DB) DisksWithChunk(ctx context.Context, dg chunks.Digest) ([]string, error) {
	return d.strings(ctx, `SELECT DISTINCT t.name || '/' || k.name FROM disk_extents e JOIN disks k ON k.id = e.disk_id
		JOIN tenants t ON t.id = k.tenant_id WHERE e.digest = ? ORDER BY 1`, dg.String())
}

// MarkLost records that a chunk was removed as corrupt.
func (d *DB) MarkLost(ctx context.Context, dg chunks.Digest) error {
	_, err := d.exec(ctx, d.db, `INSERT INTO lost_chunks (digest, lost_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, dg.String(), now())
	return err
}
