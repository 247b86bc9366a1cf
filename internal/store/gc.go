package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// PrimaryStore names the primary chunk store in chunk deletions; a region's store
// goes by the region's name.
const PrimaryStore = ""

// DeletionTTL bounds how long a chunk deletion holds: a mark older than this was
// left by a garbage collection that died, and is ignored and then cleared. The
// collector gives up on a removal long before (catalog.removalTimeout).
const DeletionTTL = 10 * time.Minute

// MarkForDeletion is garbage collection's decision for candidates of one store
// (PrimaryStore, or a region): in one transaction it finds which of them nothing
// references now, records those as being deleted, and returns them. Until
// UnmarkDeletions, every transaction that would add a reference to one of them
// fails (errChunkDeleting), so a chunk is never removed while something refers to
// it, however the collector's steps and other writes interleave.
//
// On PostgreSQL the transaction first locks the referencing tables in SHARE mode:
// it waits for the transactions adding references to finish and holds off new ones
// until the marks are committed; those check the marks after their own insert. On
// SQLite every write transaction runs alone already.
func (d *DB) MarkForDeletion(ctx context.Context, region string, candidates []chunks.Digest) ([]chunks.Digest, error) {
	if len(candidates) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(candidates)+1)
	var lock, refs string
	if region == PrimaryStore {
		lock = `LOCK TABLE disk_extents, upload_chunks, syndication_chunks IN SHARE MODE`
		refs = `SELECT digest FROM disk_extents WHERE digest IN (` + placeholders(len(candidates)) + `)
			UNION SELECT digest FROM upload_chunks WHERE digest IN (` + placeholders(len(candidates)) + `)
			UNION SELECT digest FROM syndication_chunks WHERE digest IN (` + placeholders(len(candidates)) + `)`
		for range 3 {
			for _, dg := range candidates {
				args = append(args, dg.String())
			}
		}
	} else {
		lock = `LOCK TABLE version_replicas IN SHARE MODE`
		refs = `SELECT e.digest FROM disk_extents e JOIN image_version_disks vd ON vd.disk_id = e.disk_id
			JOIN version_replicas r ON r.version_id = vd.version_id WHERE r.region = ? AND e.digest IN (` + placeholders(len(candidates)) + `)`
		args = append(args, region)
		for _, dg := range candidates {
			args = append(args, dg.String())
		}
	}
	var marked []chunks.Digest
	err := d.tx(ctx, func(tx *sql.Tx) error {
		marked = marked[:0]
		if d.dialect.name == "postgres" {
			if _, err := tx.ExecContext(ctx, lock); err != nil {
				return err
			}
		}
		held := map[string]bool{}
		if err := d.stringsTx(ctx, tx, refs, args, func(s string) { held[s] = true }); err != nil {
			return err
		}
		at := now()
		for _, dg := range candidates {
			if held[dg.String()] {
				continue
			}
			if _, err := d.exec(ctx, tx, `INSERT INTO chunk_deletions (region, digest, started_at) VALUES (?, ?, ?)
				ON CONFLICT (region, digest) DO UPDATE SET started_at = excluded.started_at`, region, dg.String(), at); err != nil {
				return err
			}
			marked = append(marked, dg)
		}
		return nil
	})
	return marked, err
}

// UnmarkDeletions ends the deletion of digests in one store, removed or kept.
func (d *DB) UnmarkDeletions(ctx context.Context, region string, digests []chunks.Digest) error {
	const batch = 500
	for start := 0; start < len(digests); start += batch {
		part := digests[start:min(start+batch, len(digests))]
		args := []any{region}
		for _, dg := range part {
			args = append(args, dg.String())
		}
		if _, err := d.exec(ctx, d.db, `DELETE FROM chunk_deletions WHERE region = ? AND digest IN (`+placeholders(len(part))+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}

// ClearStaleDeletions forgets the marks older than DeletionTTL, left by a
// collector that died. A chunk such a collector may have removed had no reference
// then and could gain none while marked, so any later reference comes with the
// chunk saved again.
func (d *DB) ClearStaleDeletions(ctx context.Context) error {
	_, err := d.exec(ctx, d.db, `DELETE FROM chunk_deletions WHERE started_at <= ?`, now()-DeletionTTL.Microseconds())
	return err
}

// errChunkDeleting is returned by a transaction that would add a reference to a
// chunk garbage collection is removing.
func errChunkDeleting(digest, region, what string) error {
	where := "the store"
	if region != PrimaryStore {
		where = "region " + region + "'s store"
	}
	return hangar.Errorf(hangar.CodeUnavailable, "chunk %s is being removed from %s by garbage collection at this moment; %s",
		shortDigest(digest), where, what)
}

func shortDigest(s string) string {
	if dg, err := chunks.ParseDigest(s); err == nil {
		return dg.Short()
	}
	return s
}

// deleting returns the first digest that query (with args, to which the cut-off
// time is appended) names among the live chunk deletions, or "".
func (d *DB) deleting(ctx context.Context, tx *sql.Tx, query string, args ...any) (string, error) {
	var digest string
	err := d.queryRow(ctx, tx, query, append(args, now()-DeletionTTL.Microseconds())...).Scan(&digest)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return digest, err
}

// stringsTx runs a query of one text column in tx and calls fn for each value.
func (d *DB) stringsTx(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(string)) error {
	rows, err := d.query(ctx, tx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		fn(s)
	}
	return rows.Err()
}
