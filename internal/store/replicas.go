package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// ReplicaJob names one version's copy into one region.
type ReplicaJob struct {
	VersionID, Region string
}

// versionID finds the row of one version of an image.
func (d *DB) versionID(ctx context.Context, q querier, im *Image, v hangar.Version) (string, error) {
	var id string
	err := d.queryRow(ctx, q, `SELECT id FROM image_versions WHERE image_id = ? AND major = ? AND minor = ? AND patch = ?`,
		im.ID, v.Major, v.Minor, v.Patch).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", hangar.Errorf(hangar.CodeImageNotFound, "image %q has no version %s", im.Name, v)
	}
	return id, err
}

// SetReplicaTargets records the regions a version is to be in. A region new to the
// version starts Replicating, with its job leased to worker until leaseUntil; a region
// it already has keeps its state and takes the new replica count. It returns the
// version's ID and the jobs that are new.
func (d *DB) SetReplicaTargets(ctx context.Context, im *Image, v hangar.Version, targets []hangar.ReplicaTarget, worker string, leaseUntil time.Time) (string, []ReplicaJob, error) {
	var id string
	var jobs []ReplicaJob
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if id, err = d.versionID(ctx, tx, im, v); err != nil {
			return err
		}
		at := now()
		for _, t := range targets {
			res, err := d.exec(ctx, tx, `UPDATE version_replicas SET replica_count = ?, updated_at = ? WHERE version_id = ? AND region = ?`,
				t.ReplicaCount, at, id, t.Region)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				continue
			}
			if _, err := d.exec(ctx, tx, `INSERT INTO version_replicas (version_id, region, replica_count, state, message,
				total_bytes, done_bytes, copied_bytes, worker, lease_until, updated_at) VALUES (?, ?, ?, ?, '', 0, 0, 0, ?, ?, ?)`,
				id, t.Region, t.ReplicaCount, hangar.ReplicationReplicating, worker, leaseUntil.UnixMicro(), at); err != nil {
				return err
			}
			// The version's chunks become the region's to keep; garbage collection
			// must not be removing one of them there (see MarkForDeletion).
			gone, err := d.deleting(ctx, tx, `SELECT c.digest FROM chunk_deletions c JOIN disk_extents e ON e.digest = c.digest
				JOIN image_version_disks vd ON vd.disk_id = e.disk_id WHERE vd.version_id = ? AND c.region = ? AND c.started_at > ? LIMIT 1`, id, t.Region)
			if err != nil {
				return err
			}
			if gone != "" {
				return errChunkDeleting(gone, t.Region, "replicate again in a moment")
			}
			jobs = append(jobs, ReplicaJob{VersionID: id, Region: t.Region})
		}
		return nil
	})
	return id, jobs, err
}

// Replicas returns the regions of a version.
func (d *DB) Replicas(ctx context.Context, versionID string) ([]hangar.ReplicationStatus, error) {
	rows, err := d.query(ctx, d.db, `SELECT region, replica_count, state, message, total_bytes, done_bytes, copied_bytes, updated_at
		FROM version_replicas WHERE version_id = ? ORDER BY region`, versionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hangar.ReplicationStatus{}
	for rows.Next() {
		var r hangar.ReplicationStatus
		var at int64
		if err := rows.Scan(&r.Region, &r.ReplicaCount, &r.State, &r.Message, &r.TotalBytes, &r.DoneBytes, &r.CopiedBytes, &at); err != nil {
			return nil, err
		}
		r.UpdatedAt = fromMicros(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// VersionReplicas returns the regions of one version of an image, and its ID.
func (d *DB) VersionReplicas(ctx context.Context, im *Image, v hangar.Version) (string, []hangar.ReplicationStatus, error) {
	id, err := d.versionID(ctx, d.db, im, v)
	if err != nil {
		return "", nil, err
	}
	rs, err := d.Replicas(ctx, id)
	return id, rs, err
}

// ClaimReplicaJobs hands worker, until leaseUntil, the replication jobs whose lease
// ran out: those of a node that died, or that gave a job back after an error.
func (d *DB) ClaimReplicaJobs(ctx context.Context, worker string, leaseUntil time.Time) ([]ReplicaJob, error) {
	rows, err := d.query(ctx, d.db, `SELECT version_id, region FROM version_replicas WHERE state = ? AND lease_until < ?`,
		hangar.ReplicationReplicating, now())
	if err != nil {
		return nil, err
	}
	var candidates []ReplicaJob
	for rows.Next() {
		var j ReplicaJob
		if err := rows.Scan(&j.VersionID, &j.Region); err != nil {
			rows.Close()
			return nil, err
		}
		candidates = append(candidates, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var claimed []ReplicaJob
	for _, j := range candidates {
		// Two nodes may see the same expired job: the conditional update lets one win.
		res, err := d.exec(ctx, d.db, `UPDATE version_replicas SET worker = ?, lease_until = ? WHERE version_id = ? AND region = ? AND state = ? AND lease_until < ?`,
			worker, leaseUntil.UnixMicro(), j.VersionID, j.Region, hangar.ReplicationReplicating, now())
		if err != nil {
			return claimed, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			claimed = append(claimed, j)
		}
	}
	return claimed, nil
}

// ReplicaProgress records a job's progress and extends its lease. It reports false
// when the job is no longer worker's (another node took it over, or the version was
// deleted): the worker must stop.
func (d *DB) ReplicaProgress(ctx context.Context, j ReplicaJob, worker string, st hangar.ReplicationStatus, leaseUntil time.Time) (bool, error) {
	held := false
	err := d.tx(ctx, func(tx *sql.Tx) error {
		res, err := d.exec(ctx, tx, `UPDATE version_replicas SET state = ?, message = ?, total_bytes = ?, done_bytes = ?, copied_bytes = ?, lease_until = ?, updated_at = ?
			WHERE version_id = ? AND region = ? AND worker = ? AND state = ?`,
			st.State, st.Message, st.TotalBytes, st.DoneBytes, st.CopiedBytes, leaseUntil.UnixMicro(), now(), j.VersionID, j.Region, worker, hangar.ReplicationReplicating)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if held = n == 1; !held || err != nil || st.State != hangar.ReplicationCompleted {
			return err
		}
		var tenantID, image string
		var v hangar.Version
		err = d.queryRow(ctx, tx, `SELECT i.tenant_id, i.name, v.major, v.minor, v.patch FROM image_versions v JOIN images i ON i.id = v.image_id WHERE v.id = ?`,
			j.VersionID).Scan(&tenantID, &image, &v.Major, &v.Minor, &v.Patch)
		if err != nil {
			return err
		}
		d.event(tx, tenantID, hangar.EventImageVersionReplicated, versionSubject(image, v.String()),
			hangar.EventImageVersion{Image: image, Version: v.String(), Region: j.Region})
		return nil
	})
	return held, err
}

// VersionDiskIDs returns the stored disks of a version.
func (d *DB) VersionDiskIDs(ctx context.Context, versionID string) ([]string, error) {
	return d.strings(ctx, `SELECT disk_id FROM image_version_disks WHERE version_id = ? ORDER BY lun`, versionID)
}

// DiskInRegion reports whether a completed replica of some image version holding the
// disk is in the region, so that every chunk of the disk is there.
func (d *DB) DiskInRegion(ctx context.Context, diskID, region string) (bool, error) {
	var n int
	err := d.queryRow(ctx, d.db, `SELECT COUNT(*) FROM version_replicas r JOIN image_version_disks vd ON vd.version_id = r.version_id
		WHERE vd.disk_id = ? AND r.region = ? AND r.state = ?`, diskID, region, hangar.ReplicationCompleted).Scan(&n)
	return n > 0, err
}

// RegionChunks calls fn for every chunk of every version replicated (or being
// replicated) to the region: what garbage collection of that region's store keeps.
func (d *DB) RegionChunks(ctx context.Context, region string, fn func(chunks.Digest) error) error {
	rows, err := d.query(ctx, d.db, `SELECT DISTINCT e.digest FROM disk_extents e
		JOIN image_version_disks vd ON vd.disk_id = e.disk_id
		JOIN version_replicas r ON r.version_id = vd.version_id WHERE r.region = ?`, region)
	if err != nil {
		return err
	}
	return scanDigests(rows, fn)
}

// ReopenReplicas sends the completed replicas in region of the versions holding the
// chunk back to Replicating, free for any node to take: the region's copy of the
// chunk was found corrupt and removed, and replication copies it again.
func (d *DB) ReopenReplicas(ctx context.Context, region string, dg chunks.Digest, why string) (int64, error) {
	res, err := d.exec(ctx, d.db, `UPDATE version_replicas SET state = ?, message = ?, lease_until = 0, updated_at = ?
		WHERE region = ? AND version_id IN (SELECT vd.version_id FROM image_version_disks vd
			JOIN disk_extents e ON e.disk_id = vd.disk_id WHERE e.digest = ?)`,
		hangar.ReplicationReplicating, why, now(), region, dg.String())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
