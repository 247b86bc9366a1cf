package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// SigningKeySecret names the cluster secret that holds this installation's signing
// key (see ClusterSecret).
const SigningKeySecret = "signing-key"

// Upstream is an upstream installation with the subscriber's key there.
type Upstream struct {
	hangar.Upstream
	APIKey string
}

func upstreamNotFound(name string) error {
	return hangar.Errorf(hangar.CodeNotFound, "upstream %q not found; `hangar marketplace upstream list` shows them", name)
}

// CreateUpstream records an upstream; its name must be new.
func (d *DB) CreateUpstream(ctx context.Context, u *Upstream) error {
	at := now()
	u.CreatedAt = fromMicros(at)
	_, err := d.exec(ctx, d.db, `INSERT INTO upstreams (name, url, api_key, public_key, fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Name, u.URL, u.APIKey, u.PublicKey, u.Fingerprint, at)
	if isUniqueViolation(err) {
		return hangar.Errorf(hangar.CodeConflict, "upstream %q already exists; remove it first to change it", u.Name)
	}
	return err
}

// DeleteUpstream forgets an upstream, its syndications and its jobs. What was
// pulled from it stays in the marketplace.
func (d *DB) DeleteUpstream(ctx context.Context, name string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		for _, t := range []string{"syndication_jobs", "syndications", "syndication_chunks", "syndication_manifests"} {
			if _, err := d.exec(ctx, tx, `DELETE FROM `+t+` WHERE upstream = ?`, name); err != nil {
				return err
			}
		}
		res, err := d.exec(ctx, tx, `DELETE FROM upstreams WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return upstreamNotFound(name)
		}
		return nil
	})
}

// UpstreamByName returns an upstream with its key.
func (d *DB) UpstreamByName(ctx context.Context, name string) (Upstream, error) {
	var u Upstream
	var at int64
	err := d.queryRow(ctx, d.db, `SELECT name, url, api_key, public_key, fingerprint, created_at FROM upstreams WHERE name = ?`, name).
		Scan(&u.Name, &u.URL, &u.APIKey, &u.PublicKey, &u.Fingerprint, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return u, upstreamNotFound(name)
	}
	u.CreatedAt = fromMicros(at)
	return u, err
}

// Upstreams lists the upstreams (without their keys) with their syndications.
func (d *DB) Upstreams(ctx context.Context) ([]hangar.Upstream, error) {
	names, err := d.strings(ctx, `SELECT name FROM upstreams ORDER BY name`)
	if err != nil {
		return nil, err
	}
	syns, err := d.Syndications(ctx, false)
	if err != nil {
		return nil, err
	}
	out := []hangar.Upstream{}
	for _, n := range names {
		u, err := d.UpstreamByName(ctx, n)
		if err != nil {
			return nil, err
		}
		u.Syndications = []hangar.Syndication{}
		for _, s := range syns {
			if s.Upstream == n {
				u.Syndications = append(u.Syndications, s)
			}
		}
		out = append(out, u.Upstream)
	}
	return out, nil
}

// SetSyndication records (or updates the follow flag of) a syndication.
func (d *DB) SetSyndication(ctx context.Context, s hangar.Syndication) error {
	_, err := d.exec(ctx, d.db, `INSERT INTO syndications (upstream, pattern, follow, message, checked_at, created_at) VALUES (?, ?, ?, '', 0, ?)
		ON CONFLICT (upstream, pattern) DO UPDATE SET follow = excluded.follow`, s.Upstream, s.Pattern, s.Follow, now())
	return err
}

// SyndicationChecked records the outcome of a look at the upstream for s.
func (d *DB) SyndicationChecked(ctx context.Context, s hangar.Syndication, message string) error {
	_, err := d.exec(ctx, d.db, `UPDATE syndications SET message = ?, checked_at = ? WHERE upstream = ? AND pattern = ?`, message, now(), s.Upstream, s.Pattern)
	return err
}

// Syndications lists the syndications, only those that follow with followOnly.
func (d *DB) Syndications(ctx context.Context, followOnly bool) ([]hangar.Syndication, error) {
	q := `SELECT upstream, pattern, follow, message, checked_at FROM syndications`
	args := []any{}
	if followOnly {
		q += ` WHERE follow = ?`
		args = append(args, true)
	}
	rows, err := d.query(ctx, d.db, q+` ORDER BY upstream, pattern`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hangar.Syndication{}
	for rows.Next() {
		var s hangar.Syndication
		var at int64
		if err := rows.Scan(&s.Upstream, &s.Pattern, &s.Follow, &s.Message, &at); err != nil {
			return nil, err
		}
		if at != 0 {
			t := fromMicros(at)
			s.CheckedAt = &t
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SyndicationJobKey names one pull: an upstream and a URN.
type SyndicationJobKey struct {
	Upstream, URNKey string
}

// SyndicationJob is a pull with the signed entry it checks everything against.
type SyndicationJob struct {
	Key SyndicationJobKey
	hangar.SyndicationJob
	SignedEntry string
}

const jobCols = `upstream, urn_key, urn, signed_entry, state, message, total_bytes, done_bytes, copied_bytes, total_chunks, done_chunks, copied_chunks, updated_at`

func scanJob(row interface{ Scan(...any) error }) (SyndicationJob, error) {
	var j SyndicationJob
	var at int64
	err := row.Scan(&j.Key.Upstream, &j.Key.URNKey, &j.URN, &j.SignedEntry, &j.State, &j.Message, &j.TotalBytes, &j.DoneBytes, &j.CopiedBytes,
		&j.TotalChunks, &j.DoneChunks, &j.CopiedChunks, &at)
	j.Upstream = j.Key.Upstream
	j.UpdatedAt = fromMicros(at)
	return j, err
}

// StartSyndicationJob records a pull of urn leased to worker, unless one exists
// that is Pulling or Completed. A Failed one starts again with the new entry. It
// reports whether the caller now holds a new lease on the job.
func (d *DB) StartSyndicationJob(ctx context.Context, upstream, urn, signedEntry, worker string, leaseUntil time.Time) (bool, error) {
	return d.startJob(ctx, upstream, urn, signedEntry, hangar.SyndicationPulling, worker, leaseUntil)
}

// StartImportJob records the import of urn from a bundle, Importing, unless one
// exists that is not Failed. It reports whether the job is new.
func (d *DB) StartImportJob(ctx context.Context, upstream, urn, signedEntry string) (bool, error) {
	return d.startJob(ctx, upstream, urn, signedEntry, hangar.SyndicationImporting, "", time.UnixMicro(0))
}

func (d *DB) startJob(ctx context.Context, upstream, urn, signedEntry, state, worker string, leaseUntil time.Time) (bool, error) {
	key := strings.ToLower(urn)
	at := now()
	res, err := d.exec(ctx, d.db, `INSERT INTO syndication_jobs (upstream, urn_key, urn, signed_entry, state, message, total_bytes, done_bytes, copied_bytes,
		total_chunks, done_chunks, copied_chunks, worker, lease_until, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '', 0, 0, 0, 0, 0, 0, ?, ?, ?, ?)
		ON CONFLICT (upstream, urn_key) DO UPDATE SET signed_entry = excluded.signed_entry, state = excluded.state, message = '',
		worker = excluded.worker, lease_until = excluded.lease_until, updated_at = excluded.updated_at WHERE syndication_jobs.state = ?`,
		upstream, key, urn, signedEntry, state, worker, leaseUntil.UnixMicro(), at, at, hangar.SyndicationFailed)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SyndicationJob returns one pull.
func (d *DB) SyndicationJob(ctx context.Context, k SyndicationJobKey) (SyndicationJob, error) {
	j, err := scanJob(d.queryRow(ctx, d.db, `SELECT `+jobCols+` FROM syndication_jobs WHERE upstream = ? AND urn_key = ?`, k.Upstream, k.URNKey))
	if errors.Is(err, sql.ErrNoRows) {
		return j, hangar.Errorf(hangar.CodeNotFound, "no pull of %s from %q", k.URNKey, k.Upstream)
	}
	return j, err
}

// SyndicationJobs lists every pull, newest first within each upstream.
func (d *DB) SyndicationJobs(ctx context.Context) ([]SyndicationJob, error) {
	rows, err := d.query(ctx, d.db, `SELECT `+jobCols+` FROM syndication_jobs ORDER BY upstream, urn_key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []SyndicationJob{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// ClaimSyndicationJobs hands worker, until leaseUntil, the pulls whose lease ran
// out: those of a node that died, or that gave a job back after an error.
func (d *DB) ClaimSyndicationJobs(ctx context.Context, worker string, leaseUntil time.Time) ([]SyndicationJobKey, error) {
	rows, err := d.query(ctx, d.db, `SELECT upstream, urn_key FROM syndication_jobs WHERE state = ? AND lease_until < ?`, hangar.SyndicationPulling, now())
	if err != nil {
		return nil, err
	}
	var candidates []SyndicationJobKey
	for rows.Next() {
		var k SyndicationJobKey
		if err := rows.Scan(&k.Upstream, &k.URNKey); err != nil {
			rows.Close()
			return nil, err
		}
		candidates = append(candidates, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var claimed []SyndicationJobKey
	for _, k := range candidates {
		res, err := d.exec(ctx, d.db, `UPDATE syndication_jobs SET worker = ?, lease_until = ? WHERE upstream = ? AND urn_key = ? AND state = ? AND lease_until < ?`,
			worker, leaseUntil.UnixMicro(), k.Upstream, k.URNKey, hangar.SyndicationPulling, now())
		if err != nil {
			return claimed, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			claimed = append(claimed, k)
		}
	}
	return claimed, nil
}

// SyndicationProgress records a pull's progress and state and extends its lease. It
// reports false when the job is no longer worker's: the worker must stop.
func (d *DB) SyndicationProgress(ctx context.Context, k SyndicationJobKey, worker string, st hangar.SyndicationJob, leaseUntil time.Time) (bool, error) {
	res, err := d.exec(ctx, d.db, `UPDATE syndication_jobs SET state = ?, message = ?, total_bytes = ?, done_bytes = ?, copied_bytes = ?,
		total_chunks = ?, done_chunks = ?, copied_chunks = ?, lease_until = ?, updated_at = ?
		WHERE upstream = ? AND urn_key = ? AND worker = ? AND state = ?`,
		st.State, st.Message, st.TotalBytes, st.DoneBytes, st.CopiedBytes, st.TotalChunks, st.DoneChunks, st.CopiedChunks,
		leaseUntil.UnixMicro(), now(), k.Upstream, k.URNKey, worker, hangar.SyndicationPulling)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SyndicatedDisk is one disk of a syndicated version.
type SyndicatedDisk struct {
	LUN      int
	Name     string
	Manifest chunks.Manifest
}

// SyndicatedVersion is a verified upstream version to make visible locally.
type SyndicatedVersion struct {
	Job               SyndicationJobKey
	Worker, State     string                // the job's holder and state, which must still hold
	Progress          hangar.SyndicationJob // the job's final progress
	URN               hangar.URN
	Fingerprint       string
	Image             hangar.ImageCreate // Name, definition, ExcludeFromLatest, EndOfLife
	Plan, Entitlement string
	Disks             []SyndicatedDisk
	ManifestDigests   []chunks.Digest // of the disks' manifests: an import's are dropped
}

// CommitSyndicated makes a pulled version visible, in one transaction: its disks,
// an image holding them, the marketplace entry with its provenance, and the job
// Completed. Unless the job is still worker's, nothing changes. A local entry with
// the same URN stops it with a conflict.
func (d *DB) CommitSyndicated(ctx context.Context, tenantID string, sv *SyndicatedVersion) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		st := sv.Progress
		st.State = hangar.SyndicationCompleted
		res, err := d.exec(ctx, tx, `UPDATE syndication_jobs SET state = ?, message = '', total_bytes = ?, done_bytes = ?, copied_bytes = ?,
			total_chunks = ?, done_chunks = ?, copied_chunks = ?, lease_until = 0, updated_at = ? WHERE upstream = ? AND urn_key = ? AND worker = ? AND state = ?`,
			st.State, st.TotalBytes, st.DoneBytes, st.CopiedBytes, st.TotalChunks, st.DoneChunks, st.CopiedChunks, now(),
			sv.Job.Upstream, sv.Job.URNKey, sv.Worker, sv.State)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrNotOurs
		}
		if _, err := d.exec(ctx, tx, `DELETE FROM syndication_chunks WHERE upstream = ? AND urn_key = ?`, sv.Job.Upstream, sv.Job.URNKey); err != nil {
			return err
		}
		for _, m := range sv.ManifestDigests {
			if _, err := d.exec(ctx, tx, `DELETE FROM syndication_manifests WHERE upstream = ? AND digest = ?`, sv.Job.Upstream, m.String()); err != nil {
				return err
			}
		}
		im, err := d.insertImage(ctx, tx, tenantID, &sv.Image)
		if err != nil {
			return err
		}
		versionID := NewID()
		v := sv.URN.Version
		if _, err := d.exec(ctx, tx, `INSERT INTO image_versions (id, image_id, major, minor, patch, exclude_from_latest, end_of_life, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			versionID, im.ID, v.Major, v.Minor, v.Patch, sv.Image.ExcludeFromLatest, sv.Image.EndOfLife, now()); err != nil {
			return err
		}
		for _, sd := range sv.Disks {
			dk := hangar.Disk{Name: sd.Name, SourceFormat: "syndicated"}
			if err := d.commitDisk(ctx, tx, tenantID, &dk, sd.Manifest); err != nil {
				return err
			}
			if _, err := d.exec(ctx, tx, `INSERT INTO image_version_disks (version_id, lun, disk_id) VALUES (?, ?, ?)`, versionID, sd.LUN, dk.ID); err != nil {
				return err
			}
		}
		u := sv.URN
		if err := d.claimName(ctx, tx, "marketplace_publishers", "name", "marketplace publisher", strings.ToLower(u.Publisher), tenantID, true); err != nil {
			return err
		}
		_, err = d.exec(ctx, tx, `INSERT INTO marketplace_entries (publisher_key, offer_key, sku_key, publisher, offer, sku, major, minor, patch, version_id, plan, entitlement,
			exclude_from_latest, created_at, upstream, upstream_key, pulled_at, withdrawn_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
			strings.ToLower(u.Publisher), strings.ToLower(u.Offer), strings.ToLower(u.SKU), u.Publisher, u.Offer, u.SKU, v.Major, v.Minor, v.Patch, versionID,
			sv.Plan, sv.Entitlement, sv.Image.ExcludeFromLatest, now(), sv.Job.Upstream, sv.Fingerprint, now())
		if isUniqueViolation(err) {
			return hangar.Errorf(hangar.CodeConflict, "%s is already in this marketplace (published here or pulled from another upstream); withdraw it here first", u)
		}
		return err
	})
}

// ErrNotOurs says a job is no longer the caller's: another node took it over.
var ErrNotOurs = errors.New("the job is no longer this node's")

// SyndicatedEntry is what drift checks need of a syndicated marketplace version.
type SyndicatedEntry struct {
	URNKey            string
	ExcludeFromLatest bool
	EndOfLife         string
	Withdrawn         bool
}

// SyndicatedEntries returns the versions pulled from upstream, by lower-case URN.
func (d *DB) SyndicatedEntries(ctx context.Context, upstream string) (map[string]SyndicatedEntry, error) {
	rows, err := d.query(ctx, d.db, `SELECT m.publisher_key, m.offer_key, m.sku_key, m.major, m.minor, m.patch, m.exclude_from_latest, v.end_of_life, m.withdrawn_at
		FROM marketplace_entries m JOIN image_versions v ON v.id = m.version_id WHERE m.upstream = ?`, upstream)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]SyndicatedEntry{}
	for rows.Next() {
		var p, o, s string
		var ver hangar.Version
		var e SyndicatedEntry
		var withdrawn int64
		if err := rows.Scan(&p, &o, &s, &ver.Major, &ver.Minor, &ver.Patch, &e.ExcludeFromLatest, &e.EndOfLife, &withdrawn); err != nil {
			return nil, err
		}
		e.URNKey = p + ":" + o + ":" + s + ":" + ver.String()
		e.Withdrawn = withdrawn != 0
		out[e.URNKey] = e
	}
	return out, rows.Err()
}

// UpdateSyndicated applies upstream's flags to a syndicated version: exclude from
// latest, end of life, and whether upstream still offers it.
func (d *DB) UpdateSyndicated(ctx context.Context, upstream string, urn hangar.URN, e SyndicatedEntry) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		withdrawn := "0"
		if e.Withdrawn {
			withdrawn = "CASE WHEN withdrawn_at = 0 THEN " + "?" + " ELSE withdrawn_at END"
		}
		where := ` WHERE upstream = ? AND publisher_key = ? AND offer_key = ? AND sku_key = ? AND major = ? AND minor = ? AND patch = ?`
		args := []any{e.ExcludeFromLatest}
		if e.Withdrawn {
			args = append(args, now())
		}
		args = append(args, upstream, strings.ToLower(urn.Publisher), strings.ToLower(urn.Offer), strings.ToLower(urn.SKU), urn.Version.Major, urn.Version.Minor, urn.Version.Patch)
		if _, err := d.exec(ctx, tx, `UPDATE marketplace_entries SET exclude_from_latest = ?, withdrawn_at = `+withdrawn+where, args...); err != nil {
			return err
		}
		if e.Withdrawn {
			return nil // a withdrawn version keeps its last flags
		}
		_, err := d.exec(ctx, tx, `UPDATE image_versions SET exclude_from_latest = ?, end_of_life = ? WHERE id IN (SELECT version_id FROM marketplace_entries`+where+`)`,
			e.ExcludeFromLatest, e.EndOfLife, upstream, strings.ToLower(urn.Publisher), strings.ToLower(urn.Offer), strings.ToLower(urn.SKU), urn.Version.Major, urn.Version.Minor, urn.Version.Patch)
		return err
	})
}

// VisibleChunk reports whether the chunk belongs to a marketplace version a tenant
// with the entitlements may see: the only chunks an upstream serves a subscriber.
func (d *DB) VisibleChunk(ctx context.Context, ents []string, dg chunks.Digest) (bool, error) {
	cond, args := entitled(ents)
	args = append(args, dg.String())
	var n int
	err := d.queryRow(ctx, d.db, `SELECT COUNT(*) FROM (SELECT 1 FROM marketplace_entries m JOIN image_version_disks vd ON vd.version_id = m.version_id
		JOIN disk_extents e ON e.disk_id = vd.disk_id WHERE `+cond+` AND e.digest = ? LIMIT 1) x`, args...).Scan(&n)
	return n > 0, err
}

// VersionDisks returns the disks of a version with their LUNs, OS disk (-1) first.
func (d *DB) VersionDisks(ctx context.Context, versionID string) ([]hangar.ImageDisk, error) {
	m, err := d.versionDisks(ctx, `vd.version_id = ?`, versionID)
	return m[versionID], err
}

// ReleaseSyndicationJobs lets the pulls leased to worker lapse now: called as a node
// starts, since any job leased to its name is one its previous run left behind.
func (d *DB) ReleaseSyndicationJobs(ctx context.Context, worker string) error {
	_, err := d.exec(ctx, d.db, `UPDATE syndication_jobs SET lease_until = 0 WHERE worker = ? AND state = ?`, worker, hangar.SyndicationPulling)
	return err
}

// HoldSyndicationChunks records the chunks of a version being pulled or imported,
// which garbage collection then keeps (see MarkForDeletion) until CommitSyndicated.
// A chunk garbage collection is removing at this moment fails it: retry.
func (d *DB) HoldSyndicationChunks(ctx context.Context, k SyndicationJobKey, digests []chunks.Digest) error {
	const batch = 200
	for start := 0; start < len(digests); start += batch {
		part := digests[start:min(start+batch, len(digests))]
		err := d.tx(ctx, func(tx *sql.Tx) error {
			for _, dg := range part {
				if _, err := d.exec(ctx, tx, `INSERT INTO syndication_chunks (upstream, urn_key, digest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
					k.Upstream, k.URNKey, dg.String()); err != nil {
					return err
				}
			}
			args := []any{PrimaryStore}
			for _, dg := range part {
				args = append(args, dg.String())
			}
			gone, err := d.deleting(ctx, tx, `SELECT c.digest FROM chunk_deletions c WHERE c.region = ? AND c.digest IN (`+placeholders(len(part))+`)
				AND c.started_at > ? LIMIT 1`, args...)
			if err != nil {
				return err
			}
			if gone != "" {
				return errChunkDeleting(gone, PrimaryStore, "the pull is retried")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// HeldChunk reports whether a version of upstream being imported holds the chunk:
// the only chunks a bundle import may store.
func (d *DB) HeldChunk(ctx context.Context, upstream string, dg chunks.Digest) (bool, error) {
	var n int
	err := d.queryRow(ctx, d.db, `SELECT COUNT(*) FROM (SELECT 1 FROM syndication_chunks WHERE upstream = ? AND digest = ? LIMIT 1) x`, upstream, dg.String()).Scan(&n)
	return n > 0, err
}

// SaveImportManifest keeps a manifest an import received and checked.
func (d *DB) SaveImportManifest(ctx context.Context, upstream string, dg chunks.Digest, data []byte) error {
	_, err := d.exec(ctx, d.db, `INSERT INTO syndication_manifests (upstream, digest, data, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		upstream, dg.String(), string(data), now())
	return err
}

// ImportManifest returns a manifest an import received, or nil.
func (d *DB) ImportManifest(ctx context.Context, upstream string, dg chunks.Digest) ([]byte, error) {
	var data string
	err := d.queryRow(ctx, d.db, `SELECT data FROM syndication_manifests WHERE upstream = ? AND digest = ?`, upstream, dg.String()).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return []byte(data), err
}

// UpstreamByFingerprint returns the upstream whose pinned key has the fingerprint.
func (d *DB) UpstreamByFingerprint(ctx context.Context, fingerprint string) (Upstream, error) {
	var name string
	err := d.queryRow(ctx, d.db, `SELECT name FROM upstreams WHERE fingerprint = ? ORDER BY name LIMIT 1`, fingerprint).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return Upstream{}, hangar.Errorf(hangar.CodeNotFound, "no upstream pins the key %s that signed this; add it first: hangar marketplace upstream add NAME --public-key KEY", fingerprint)
	}
	if err != nil {
		return Upstream{}, err
	}
	return d.UpstreamByName(ctx, name)
}

// ImportProgress records the progress and message of a version being imported.
func (d *DB) ImportProgress(ctx context.Context, k SyndicationJobKey, st hangar.SyndicationJob) error {
	_, err := d.exec(ctx, d.db, `UPDATE syndication_jobs SET message = ?, total_bytes = ?, done_bytes = ?, copied_bytes = ?,
		total_chunks = ?, done_chunks = ?, copied_chunks = ?, updated_at = ? WHERE upstream = ? AND urn_key = ? AND state = ?`,
		st.Message, st.TotalBytes, st.DoneBytes, st.CopiedBytes, st.TotalChunks, st.DoneChunks, st.CopiedChunks, now(),
		k.Upstream, k.URNKey, hangar.SyndicationImporting)
	return err
}

// MarketplaceEntitlements lists the entitlements marketplace versions require.
func (d *DB) MarketplaceEntitlements(ctx context.Context) ([]string, error) {
	return d.strings(ctx, `SELECT DISTINCT entitlement FROM marketplace_entries WHERE entitlement <> ''`)
}

// ReleaseSyndicationChunks lets garbage collection have the chunks a job held: it
// failed, and a later pull of the version holds them again.
func (d *DB) ReleaseSyndicationChunks(ctx context.Context, k SyndicationJobKey) error {
	_, err := d.exec(ctx, d.db, `DELETE FROM syndication_chunks WHERE upstream = ? AND urn_key = ?`, k.Upstream, k.URNKey)
	return err
}
