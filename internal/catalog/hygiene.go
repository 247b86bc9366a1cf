package catalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

func parseDuration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, hangar.Errorf(hangar.CodeInvalid, "%s %q is not a duration such as 30m or 24h", field, s)
	}
	return d, nil
}

// GC removes chunks no disk or live upload references and that are older than the
// grace period. The decision for each chunk is taken at delete time, atomically
// with the check of its references (store.MarkForDeletion), so a chunk that gains a
// reference while GC runs is never removed. Each run the request gets to is
// recorded in the history (GCRuns) when it ends, succeeded or failed.
func (s *Service) GC(ctx context.Context, actor *hangar.Tenant, req hangar.GCRequest) (hangar.GCReport, error) {
	rep := hangar.GCReport{DryRun: req.DryRun}
	if err := requireAdmin(actor, "collect garbage"); err != nil {
		return rep, err
	}
	grace, err := parseDuration("grace period", req.GracePeriod, time.Hour)
	if err != nil {
		return rep, err
	}
	maxAge, err := parseDuration("upload max age", req.UploadMaxAge, 7*24*time.Hour)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	s.log.Info("garbage collection starts", "by", actor.Name, "dryRun", req.DryRun)
	err = s.gc(ctx, req, start, grace, maxAge, &rep)
	// The history keeps what the run was asked with the defaults filled in.
	asked := hangar.GCRequest{GracePeriod: grace.String(), UploadMaxAge: maxAge.String(), DryRun: req.DryRun}
	s.recordRun(ctx, store.HygieneGC, actor, start, asked, rep, err)
	if err != nil {
		return rep, err
	}
	s.log.Info("garbage collection", "by", actor.Name, "scanned", rep.Scanned, "removed", rep.Removed, "bytes", rep.RemovedBytes, "dryRun", req.DryRun)
	if !req.DryRun {
		s.hygiene.mu.Lock()
		s.hygiene.last.GC, s.hygiene.last.GCAt = rep, time.Now()
		s.hygiene.mu.Unlock()
	}
	return rep, nil
}

// gc is one garbage collection, after its request was checked: rep holds what it
// did, also when it fails.
func (s *Service) gc(ctx context.Context, req hangar.GCRequest, start time.Time, grace, maxAge time.Duration, rep *hangar.GCReport) error {
	var err error
	if !req.DryRun {
		if rep.ExpiredUploads, err = s.db.ExpireUploads(ctx, start.Add(-maxAge).UnixMicro()); err != nil {
			return err
		}
		if err := s.db.ClearStaleDeletions(ctx); err != nil {
			return err
		}
	}
	// The primary store keeps what any disk or upload references; a region's store
	// what the versions replicated there reference.
	c := collection{start: start, grace: grace, dryRun: req.DryRun, rep: rep}
	if err := s.collect(ctx, store.PrimaryStore, s.chunks.Backend, s.db.ReferencedChunks, c); err != nil {
		return err
	}
	for region, rs := range s.cfg.Regions {
		refs := func(ctx context.Context, fn func(chunks.Digest) error) error {
			return s.db.RegionChunks(ctx, region, fn)
		}
		if err := s.collect(ctx, region, rs.Backend, refs, c); err != nil {
			return fmt.Errorf("region %s: %w", region, err)
		}
	}
	return nil
}

// Hygiene is this node's latest garbage collection and scrub, for the metrics:
// zero times when none ran since the start.
type Hygiene struct {
	GC      hangar.GCReport
	GCAt    time.Time
	Scrub   hangar.ScrubReport
	ScrubAt time.Time
	// Stores are the chunks and bytes the scrub found in each store: "primary", or
	// a region's name.
	Stores map[string]StoreSize
}

// StoreSize is what one chunk store held when it was scrubbed.
type StoreSize struct{ Chunks, Bytes int64 }

type hygiene struct {
	mu   sync.Mutex
	last Hygiene
}

// LastHygiene returns this node's latest garbage collection and scrub.
func (s *Service) LastHygiene() Hygiene {
	s.hygiene.mu.Lock()
	defer s.hygiene.mu.Unlock()
	return s.hygiene.last
}

// collection is one GC run's settings and report.
type collection struct {
	start  time.Time
	grace  time.Duration
	dryRun bool
	rep    *hangar.GCReport
}

const (
	// gcBatch is how many chunks one deletion decision covers.
	gcBatch = 500
	// removalTimeout bounds the removal of one chunk, well inside store.DeletionTTL.
	removalTimeout = time.Minute
)

// collect removes from one store (store.PrimaryStore or a region) the chunks refs
// does not name and that are older than the grace period. It lists first, then
// reads references: a chunk saved after the listing is not a candidate, and one
// referenced before the read is kept. The rest are decided in batches: the database
// marks those still unreferenced as being deleted, in the transaction that checks
// (no reference can be added to a marked chunk), and only those are removed, each
// after a last look at its time; then the marks go.
func (s *Service) collect(ctx context.Context, region string, b chunks.Backend, refs func(context.Context, func(chunks.Digest) error) error, c collection) error {
	var candidates []chunks.ObjectInfo
	err := b.List(ctx, func(o chunks.ObjectInfo) error {
		c.rep.Scanned++
		if c.start.Sub(o.ModTime) < c.grace {
			c.rep.TooYoung++
			return nil
		}
		candidates = append(candidates, o)
		return nil
	})
	if err != nil {
		return err
	}
	keep := make(map[chunks.Digest]bool)
	if err := refs(ctx, func(d chunks.Digest) error { keep[d] = true; return nil }); err != nil {
		return err
	}
	var unreferenced []chunks.Digest
	sizes := map[chunks.Digest]int64{}
	for _, o := range candidates {
		d, err := chunks.ParseDigest(o.Name)
		if err != nil {
			continue // not a chunk of ours
		}
		if keep[d] {
			c.rep.Referenced++
			continue
		}
		unreferenced = append(unreferenced, d)
		sizes[d] = o.Size
	}
	if c.dryRun {
		c.rep.Removed += int64(len(unreferenced))
		for _, d := range unreferenced {
			c.rep.RemovedBytes += sizes[d]
		}
		return nil
	}
	for len(unreferenced) > 0 {
		batch := unreferenced[:min(gcBatch, len(unreferenced))]
		unreferenced = unreferenced[len(batch):]
		marked, err := s.db.MarkForDeletion(ctx, region, batch)
		if err != nil {
			return err
		}
		c.rep.Referenced += int64(len(batch) - len(marked))
		err = s.removeMarked(ctx, b, marked, sizes, c)
		// The marks go whatever happened: a chunk not removed stays for the next run.
		if uerr := s.db.UnmarkDeletions(context.WithoutCancel(ctx), region, marked); err == nil {
			err = uerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// removeMarked removes the chunks MarkForDeletion marked, unless one turns out to
// be younger than the grace period (saved again since the listing). It stops early
// rather than remove a chunk once the marks could be taken for stale.
func (s *Service) removeMarked(ctx context.Context, b chunks.Backend, marked []chunks.Digest, sizes map[chunks.Digest]int64, c collection) error {
	markedAt := time.Now()
	for _, d := range marked {
		if time.Since(markedAt) > store.DeletionTTL-removalTimeout {
			return nil
		}
		if s.beforeRemove != nil {
			s.beforeRemove(d)
		}
		rctx, cancel := context.WithTimeout(ctx, removalTimeout)
		removed, err := removeIfOld(rctx, b, d, c)
		cancel()
		if err != nil {
			return err
		}
		if removed {
			c.rep.Removed++
			c.rep.RemovedBytes += sizes[d]
		}
	}
	return nil
}

// removeIfOld removes a chunk unless it was saved within the grace period.
func removeIfOld(ctx context.Context, b chunks.Backend, d chunks.Digest, c collection) (bool, error) {
	info, err := b.Stat(ctx, d.String())
	if errors.Is(err, chunks.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if c.start.Sub(info.ModTime) < c.grace {
		c.rep.TooYoung++
		return false, nil
	}
	return true, b.Remove(ctx, d.String())
}

// Scrub re-reads every chunk and checks it against its digest. A corrupt chunk is
// moved out of the store into the quarantine directory and reported with the disks
// it damages. In the primary store, a later upload of the same content heals it; in
// another region's store, the replicas holding it go back to Replicating, and
// replication copies a good copy from the primary store again. Each run is
// recorded in the history (ScrubRuns) when it ends, succeeded or failed.
func (s *Service) Scrub(ctx context.Context, actor *hangar.Tenant) (hangar.ScrubReport, error) {
	rep := hangar.ScrubReport{Corrupt: []hangar.CorruptChunk{}}
	if err := requireAdmin(actor, "scrub the store"); err != nil {
		return rep, err
	}
	start := time.Now()
	s.log.Info("scrub starts", "by", actor.Name)
	stores := map[string]StoreSize{}
	err := s.scrubAll(ctx, &rep, stores)
	s.recordRun(ctx, store.HygieneScrub, actor, start, struct{}{}, rep, err)
	if err != nil {
		return rep, err
	}
	s.log.Info("scrub", "by", actor.Name, "scanned", rep.Scanned, "corrupt", len(rep.Corrupt))
	s.hygiene.mu.Lock()
	s.hygiene.last.Scrub, s.hygiene.last.ScrubAt, s.hygiene.last.Stores = rep, time.Now(), stores
	s.hygiene.mu.Unlock()
	return rep, nil
}

// scrubAll verifies every store, the primary's first; rep holds what it found,
// also when it fails, and stores the size of each store verified.
func (s *Service) scrubAll(ctx context.Context, rep *hangar.ScrubReport, stores map[string]StoreSize) error {
	scrubStore := func(b chunks.Backend, region string) error {
		chunksBefore, bytesBefore := rep.Scanned, rep.ScannedBytes
		err := s.scrub(ctx, b, region, rep)
		stores[cmp.Or(region, "primary")] = StoreSize{Chunks: rep.Scanned - chunksBefore, Bytes: rep.ScannedBytes - bytesBefore}
		return err
	}
	if err := scrubStore(s.chunks.Backend, ""); err != nil {
		return err
	}
	for region, rs := range s.cfg.Regions {
		if err := scrubStore(rs.Backend, region); err != nil {
			return fmt.Errorf("region %s: %w", region, err)
		}
	}
	return nil
}

// scrub verifies one store: the primary's when region is "".
func (s *Service) scrub(ctx context.Context, b chunks.Backend, region string, rep *hangar.ScrubReport) error {
	var names []string
	if err := b.List(ctx, func(o chunks.ObjectInfo) error { names = append(names, o.Name); return nil }); err != nil {
		return err
	}
	for _, name := range names {
		d, err := chunks.ParseDigest(name)
		if err != nil {
			continue
		}
		data, err := b.Load(ctx, name)
		if errors.Is(err, chunks.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			return err
		}
		rep.Scanned++
		rep.ScannedBytes += int64(len(data))
		if chunks.Sum(data) == d {
			continue
		}
		c, err := s.quarantine(ctx, b, region, d, data)
		if err != nil {
			return err
		}
		rep.Corrupt = append(rep.Corrupt, c)
	}
	return nil
}

func (s *Service) quarantine(ctx context.Context, b chunks.Backend, region string, d chunks.Digest, data []byte) (hangar.CorruptChunk, error) {
	c := hangar.CorruptChunk{Digest: d.String(), Region: region}
	var err error
	if c.Disks, err = s.db.DisksWithChunk(ctx, d); err != nil {
		return c, err
	}
	if err := atomicfile.MkdirAll(s.cfg.QuarantineDir, 0o700); err != nil {
		return c, err
	}
	name := d.String() + "." + time.Now().UTC().Format("20060102T150405")
	if region != "" {
		name = region + "." + name
	}
	c.Quarantined = filepath.Join(s.cfg.QuarantineDir, name)
	if err := atomicfile.WriteFile(c.Quarantined, data, 0o600); err != nil {
		return c, err
	}
	s.log.Error("corrupt chunk quarantined", "sha256", d.String(), "region", region, "disks", c.Disks, "file", c.Quarantined)
	// The database learns first: a crash before the removal leaves the corrupt chunk
	// in place to be found by the next scrub, never a chunk gone unnoticed.
	if region != "" {
		_, err = s.db.ReopenReplicas(ctx, region, d, "scrub found a corrupt chunk here; copying it again")
	} else {
		err = s.db.MarkLost(ctx, d)
	}
	if err != nil {
		return c, err
	}
	return c, b.Remove(ctx, d.String())
}
