package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

const diskCols = `id, name, virtual_size, stored_bytes, source_format, created_at, revision, tags, sha256, md5, vhd_sha256, vhd_md5`

func scanDisk(row interface{ Scan(...any) error }) (hangar.Disk, error) {
	var (
		dk         hangar.Disk
		micro, rev int64
		tags       string
		sums       hangar.DiskChecksums
	)
	err := row.Scan(&dk.ID, &dk.Name, &dk.VirtualSize, &dk.StoredBytes, &dk.SourceFormat, &micro, &rev, &tags, &sums.SHA256, &sums.MD5, &sums.VHDSHA256, &sums.VHDMD5)
	if sums.SHA256 != "" {
		dk.Checksums = &sums
	}
	dk.Tags = parseTags(tags)
	dk.CreatedAt = fromMicros(micro)
	dk.ETag = hangar.ETag(dk.ID, rev)
	return dk, err
}

func diskNotFound(name string) error {
	return hangar.Errorf(hangar.CodeDiskNotFound, "disk %q not found; `hangar disk list` shows your disks", name)
}

// DiskByName returns the tenant's disk with the image versions that use it.
func (d *DB) DiskByName(ctx context.Context, tenantID, name string) (hangar.Disk, error) {
	dk, err := d.diskByName(ctx, d.db, tenantID, name)
	if err != nil {
		return dk, err
	}
	dk.UsedBy, err = d.diskUsers(ctx, d.db, dk.ID, maxUsersShown)
	return dk, err
}

// maxUsersShown bounds the image versions listed as a disk's users (a disk may
// back thousands of versions).
const maxUsersShown = 100

func (d *DB) diskByName(ctx context.Context, q querier, tenantID, name string) (hangar.Disk, error) {
	dk, err := scanDisk(d.queryRow(ctx, q, `SELECT `+diskCols+` FROM disks WHERE tenant_id = ? AND name = ?`, tenantID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return dk, diskNotFound(name)
	}
	return dk, err
}

// diskUsers names up to limit image versions that hold the disk, as NAME@VERSION.
func (d *DB) diskUsers(ctx context.Context, q querier, diskID string, limit int) ([]string, error) {
	rows, err := d.query(ctx, q, `SELECT i.name, v.major, v.minor, v.patch FROM image_version_disks vd
		JOIN image_versions v ON v.id = vd.version_id JOIN images i ON i.id = v.image_id
		WHERE vd.disk_id = ? ORDER BY i.name, v.major, v.minor, v.patch LIMIT ?`, diskID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		var v hangar.Version
		if err := rows.Scan(&name, &v.Major, &v.Minor, &v.Patch); err != nil {
			return nil, err
		}
		out = append(out, name+"@"+v.String())
	}
	return out, rows.Err()
}

// ListDisks lists the tenant's disks by name.
func (d *DB) ListDisks(ctx context.Context, tenantID string) ([]hangar.Disk, error) {
	rows, err := d.query(ctx, d.db, `SELECT `+diskCols+` FROM disks WHERE tenant_id = ? ORDER BY name`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hangar.Disk{}
	for rows.Next() {
		dk, err := scanDisk(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, dk)
	}
	return out, rows.Err()
}

// DeleteDisk drops the tenant's disk and its manifest. A disk held by an image version
// cannot be deleted. Its chunks stay until garbage collection.
func (d *DB) DeleteDisk(ctx context.Context, tenantID, name string, pre hangar.Precondition) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		dk, err := d.diskByName(ctx, tx, tenantID, name)
		if err != nil {
			return err
		}
		if _, err := d.bump(ctx, tx, target{table: "disks", kind: "disk", id: dk.ID, missing: diskNotFound(name)}, pre, ""); err != nil {
			return err
		}
		users, err := d.diskUsers(ctx, tx, dk.ID, 1)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return hangar.Errorf(hangar.CodeInUse, "disk %q is used by image version %s; delete the image first (hangar image delete)", name, users[0])
		}
		_, err = d.exec(ctx, tx, `DELETE FROM disks WHERE id = ?`, dk.ID)
		d.event(tx, tenantID, hangar.EventDiskDeleted, "disks/"+name, hangar.EventDisk{Disk: name, DiskID: dk.ID})
		return err
	})
}

// Manifest returns a disk's chunk manifest, by disk ID. Callers must have checked
// that the tenant may use the disk.
func (d *DB) Manifest(ctx context.Context, diskID string) (chunks.Manifest, error) {
	var m chunks.Manifest
	if err := d.queryRow(ctx, d.db, `SELECT virtual_size FROM disks WHERE id = ?`, diskID).Scan(&m.VirtualSize); err != nil {
		return m, notFound(err)
	}
	rows, err := d.query(ctx, d.db, `SELECT offset_bytes, length, digest FROM disk_extents WHERE disk_id = ? ORDER BY offset_bytes`, diskID)
	if err != nil {
		return m, err
	}
	defer rows.Close()
	for rows.Next() {
		var e chunks.Extent
		var digest string
		if err := rows.Scan(&e.Offset, &e.Length, &digest); err != nil {
			return m, err
		}
		if e.Digest, err = chunks.ParseDigest(digest); err != nil {
			return m, err
		}
		m.Extents = append(m.Extents, e)
	}
	return m, rows.Err()
}

// CreateUpload records a new upload, within the tenant's quota of uploads in
// progress. The disk it will make must also fit the tenant's quotas of disks and
// virtual size as they stand (the commit checks them again), so that an upload
// bound to be refused is refused before its bytes are sent.
func (d *DB) CreateUpload(ctx context.Context, tenantID string, u *hangar.Upload) error {
	u.ID = NewID()
	at := now()
	u.CreatedAt = fromMicros(at)
	u.ChunkSize = chunks.ChunkSize
	return d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.checkQuota(ctx, tx, tenantID, hangar.Resources{Uploads: 1, Disks: 1, TotalVirtualSize: u.VirtualSize}); err != nil {
			return err
		}
		_, err := d.exec(ctx, tx, `INSERT INTO uploads (id, tenant_id, name, virtual_size, source_format, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, tenantID, u.Name, u.VirtualSize, u.SourceFormat, at)
		return err
	})
}

// Upload returns the tenant's upload.
func (d *DB) Upload(ctx context.Context, tenantID, id string) (hangar.Upload, error) {
	var (
		u     hangar.Upload
		micro int64
	)
	err := d.queryRow(ctx, d.db, `SELECT id, name, virtual_size, source_format, created_at FROM uploads WHERE tenant_id = ? AND id = ?`, tenantID, id).
		Scan(&u.ID, &u.Name, &u.VirtualSize, &u.SourceFormat, &micro)
	if errors.Is(err, sql.ErrNoRows) {
		return u, hangar.Errorf(hangar.CodeUploadNotFound, "upload %q not found (it was committed, cancelled or expired); start the upload again", id)
	}
	u.ChunkSize = chunks.ChunkSize
	u.CreatedAt = fromMicros(micro)
	return u, err
}

// DeleteUpload forgets an upload. Chunks it sent stay until garbage collection.
func (d *DB) DeleteUpload(ctx context.Context, tenantID, id string) error {
	_, err := d.exec(ctx, d.db, `DELETE FROM uploads WHERE tenant_id = ? AND id = ?`, tenantID, id)
	return err
}

// AddUploadChunk records that the upload delivered a verified chunk (which heals
// it if scrub had lost it). It fails if garbage collection is removing the chunk:
// the copy just saved may be the one it removes, so the chunk must be sent again.
//
// The record is written lazily (txLazy): after a power loss it may be gone, and the
// upload sends the chunk again; the upload's commit makes it durable.
func (d *DB) AddUploadChunk(ctx context.Context, uploadID string, dg chunks.Digest) error {
	return d.txLazy(ctx, func(tx *sql.Tx) error {
		if _, err := d.exec(ctx, tx, `INSERT INTO upload_chunks (upload_id, digest) VALUES (?, ?) ON CONFLICT DO NOTHING`, uploadID, dg.String()); err != nil {
			return err
		}
		// After the insert: see MarkForDeletion for why the order matters.
		gone, err := d.deleting(ctx, tx, `SELECT digest FROM chunk_deletions WHERE region = ? AND digest = ? AND started_at > ?`, PrimaryStore, dg.String())
		if err != nil {
			return err
		}
		if gone != "" {
			return errChunkDeleting(gone, PrimaryStore, "send it again")
		}
		_, err = d.exec(ctx, tx, `DELETE FROM lost_chunks WHERE digest = ?`, dg.String())
		return err
	})
}

// KnownChunks returns which of the digests the tenant may claim without sending:
// those the upload delivered and those the tenant's own disks already reference,
// unless scrub lost them. Chunks other tenants hold are never reported, so dedup
// reveals nothing.
func (d *DB) KnownChunks(ctx context.Context, tenantID, uploadID string, digests []chunks.Digest) (map[chunks.Digest]bool, error) {
	known := make(map[chunks.Digest]bool)
	const batch = 500
	for start := 0; start < len(digests); start += batch {
		part := digests[start:min(start+batch, len(digests))]
		args := make([]any, 0, len(part)*2+2)
		args = append(args, uploadID)
		for _, dg := range part {
			args = append(args, dg.String())
		}
		args = append(args, tenantID)
		for _, dg := range part {
			args = append(args, dg.String())
		}
		rows, err := d.query(ctx, d.db, `SELECT digest FROM upload_chunks WHERE upload_id = ? AND digest IN (`+placeholders(len(part))+`)
			UNION SELECT e.digest FROM disk_extents e JOIN disks k ON k.id = e.disk_id WHERE k.tenant_id = ? AND e.digest IN (`+placeholders(len(part))+`)
			AND e.digest NOT IN (SELECT digest FROM lost_chunks)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, err
			}
			dg, err := chunks.ParseDigest(s)
			if err != nil {
				rows.Close()
				return nil, err
			}
			known[dg] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return known, nil
}

// CommitDisk creates the disk from a validated manifest and, if uploadID is not
// empty, drops the upload, in one transaction: either the whole disk is visible or
// nothing is. A disk that would take the tenant past its quotas of disks, stored
// bytes or virtual size is refused, and nothing changes.
func (d *DB) CommitDisk(ctx context.Context, tenantID, uploadID string, dk *hangar.Disk, m chunks.Manifest) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.commitDisk(ctx, tx, tenantID, dk, m); err != nil {
			return err
		}
		if uploadID != "" {
			_, err := d.exec(ctx, tx, `DELETE FROM uploads WHERE id = ?`, uploadID)
			return err
		}
		return nil
	})
}

// NewDisk is a disk to commit with its manifest.
type NewDisk struct {
	Disk     *hangar.Disk
	Manifest chunks.Manifest
}

// DiskReplacement names the tenant's disks that CommitDisks deletes before it
// creates the new ones. A named disk that no longer exists is skipped; one of
// another source format, or that an image version uses, stops the commit.
type DiskReplacement struct {
	Names        []string
	SourceFormat string
}

// CommitDisks deletes the disks named by replace and creates disks, in one
// transaction: a crash or an error leaves the old disks whole, or the new ones.
// It is how a backup replaces an earlier backup of the same name.
func (d *DB) CommitDisks(ctx context.Context, tenantID string, disks []NewDisk, replace DiskReplacement) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		for _, name := range replace.Names {
			old, err := d.diskByName(ctx, tx, tenantID, name)
			if hangar.ErrorCode(err) == hangar.CodeDiskNotFound {
				continue
			}
			if err != nil {
				return err
			}
			if old.SourceFormat != replace.SourceFormat {
				return hangar.Errorf(hangar.CodeConflict, "disk %q already exists and is not a %s; delete it first or choose another name", name, replace.SourceFormat)
			}
			users, err := d.diskUsers(ctx, tx, old.ID, 1)
			if err != nil {
				return err
			}
			if len(users) > 0 {
				return hangar.Errorf(hangar.CodeInUse, "disk %q is used by image version %s; it cannot be replaced (choose another name)", name, users[0])
			}
			if _, err := d.exec(ctx, tx, `DELETE FROM disks WHERE id = ?`, old.ID); err != nil {
				return err
			}
			d.event(tx, tenantID, hangar.EventDiskDeleted, "disks/"+name, hangar.EventDisk{Disk: name, DiskID: old.ID})
		}
		for _, nd := range disks {
			if err := d.commitDisk(ctx, tx, tenantID, nd.Disk, nd.Manifest); err != nil {
				return err
			}
		}
		return nil
	})
}

// commitDisk inserts a disk and its manifest.
func (d *DB) commitDisk(ctx context.Context, tx *sql.Tx, tenantID string, dk *hangar.Disk, m chunks.Manifest) error {
	dk.ID = NewID()
	at := now()
	dk.CreatedAt = fromMicros(at)
	dk.VirtualSize = m.VirtualSize
	dk.StoredBytes = m.StoredBytes()
	dk.ETag = hangar.ETag(dk.ID, 1)
	if err := d.checkQuota(ctx, tx, tenantID, hangar.Resources{Disks: 1, StoredBytes: dk.StoredBytes, TotalVirtualSize: dk.VirtualSize}); err != nil {
		return err
	}
	_, err := d.exec(ctx, tx, `INSERT INTO disks (id, tenant_id, name, virtual_size, stored_bytes, source_format, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		dk.ID, tenantID, dk.Name, dk.VirtualSize, dk.StoredBytes, dk.SourceFormat, at)
	if isUniqueViolation(err) {
		return hangar.Errorf(hangar.CodeConflict, "disk %q already exists; delete it first or choose another name", dk.Name)
	}
	if err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, d.rebind(`INSERT INTO disk_extents (disk_id, offset_bytes, length, digest) VALUES (?, ?, ?, ?)`))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, e := range m.Extents {
		if _, err := stmt.ExecContext(ctx, dk.ID, e.Offset, e.Length, e.Digest.String()); err != nil {
			return err
		}
	}
	// After the inserts: see MarkForDeletion for why the order matters.
	gone, err := d.deleting(ctx, tx, `SELECT c.digest FROM chunk_deletions c WHERE c.region = ? AND c.digest IN
		(SELECT digest FROM disk_extents WHERE disk_id = ?) AND c.started_at > ? LIMIT 1`, PrimaryStore, dk.ID)
	if err != nil {
		return err
	}
	if gone != "" {
		return errChunkDeleting(gone, PrimaryStore, "disk "+dk.Name+" was not stored; try again (an upload sends the chunk again)")
	}
	d.event(tx, tenantID, hangar.EventDiskCreated, "disks/"+dk.Name, hangar.EventDisk{Disk: dk.Name, DiskID: dk.ID,
		VirtualSize: dk.VirtualSize, StoredBytes: dk.StoredBytes, SourceFormat: dk.SourceFormat})
	return nil
}

// UnsummedDisk is a disk whose checksums are still to compute.
type UnsummedDisk struct {
	ID, Name  string
	CreatedAt time.Time
}

// ClaimUnsummedDisk leases one disk without checksums until leaseUntil, so that
// no other node computes them at the same time; ok is false when there is none.
func (d *DB) ClaimUnsummedDisk(ctx context.Context, leaseUntil time.Time) (dk UnsummedDisk, ok bool, err error) {
	at := now()
	for {
		var micro int64
		err = d.queryRow(ctx, d.db, `SELECT id, name, created_at FROM disks WHERE sha256 = '' AND digest_lease_until <= ? ORDER BY created_at LIMIT 1`, at).
			Scan(&dk.ID, &dk.Name, &micro)
		if errors.Is(err, sql.ErrNoRows) {
			return dk, false, nil
		}
		if err != nil {
			return dk, false, err
		}
		dk.CreatedAt = fromMicros(micro)
		res, err := d.exec(ctx, d.db, `UPDATE disks SET digest_lease_until = ? WHERE id = ? AND sha256 = '' AND digest_lease_until <= ?`, leaseUntil.UnixMicro(), dk.ID, at)
		if err != nil {
			return dk, false, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return dk, true, nil
		}
		// Another node took it between the look and the lease: look again.
	}
}

// ExtendChecksumLease keeps a disk's lease while its checksums are computed.
func (d *DB) ExtendChecksumLease(ctx context.Context, id string, leaseUntil time.Time) error {
	_, err := d.exec(ctx, d.db, `UPDATE disks SET digest_lease_until = ? WHERE id = ? AND sha256 = ''`, leaseUntil.UnixMicro(), id)
	return err
}

// SetDiskChecksums records a disk's checksums (once: they never change).
func (d *DB) SetDiskChecksums(ctx context.Context, id string, sums hangar.DiskChecksums) error {
	_, err := d.exec(ctx, d.db, `UPDATE disks SET sha256 = ?, md5 = ?, vhd_sha256 = ?, vhd_md5 = ?, digest_lease_until = 0 WHERE id = ? AND sha256 = ''`,
		sums.SHA256, sums.MD5, sums.VHDSHA256, sums.VHDMD5, id)
	return err
}
