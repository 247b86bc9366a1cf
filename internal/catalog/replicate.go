package catalog

import (
	"context"
	"errors"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

const (
	// replicaLease is how long a replication job stays with the node copying it
	// without news from it; the node renews it as it makes progress.
	replicaLease = 15 * time.Second
	// replicaRetry is how long a job that hit an error waits before any node
	// takes it up again.
	replicaRetry = 5 * time.Second
	// replicaWorkers is how many chunks are copied at once.
	replicaWorkers = 4
)

// Replicate adds target regions to one of the actor's image versions and starts
// copying it there. Only chunks a region's store lacks are copied.
func (s *Service) Replicate(ctx context.Context, actor *hangar.Tenant, name, version string, req hangar.ImageReplicate) ([]hangar.ReplicationStatus, error) {
	im, v, err := s.ownVersion(ctx, actor, name, version)
	if err != nil {
		return nil, err
	}
	if len(req.TargetRegions) == 0 {
		return nil, hangar.Errorf(hangar.CodeInvalid, "name at least one target region (regions: %s)", s.regionNames())
	}
	seen := map[string]bool{}
	for i, t := range req.TargetRegions {
		if _, ok := s.cfg.Regions[t.Region]; !ok {
			if t.Region == s.cfg.PrimaryRegion {
				return nil, hangar.Errorf(hangar.CodeInvalid, "region %q is the primary region, where every version already is", t.Region)
			}
			return nil, hangar.Errorf(hangar.CodeInvalid, "region %q is not configured (hangar serve --region-store NAME=URL); regions: %s", t.Region, s.regionNames())
		}
		if seen[t.Region] {
			return nil, hangar.Errorf(hangar.CodeInvalid, "region %q is named twice", t.Region)
		}
		seen[t.Region] = true
		if t.ReplicaCount == 0 {
			req.TargetRegions[i].ReplicaCount = 1
		} else if t.ReplicaCount < 1 || t.ReplicaCount > 100 {
			return nil, hangar.Errorf(hangar.CodeInvalid, "replica count %d for region %q: use 1 to 100", t.ReplicaCount, t.Region)
		}
	}
	id, jobs, err := s.db.SetReplicaTargets(ctx, &im, v, req.TargetRegions, s.cfg.Node, time.Now().Add(replicaLease))
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		go s.replicate(context.WithoutCancel(ctx), j)
	}
	s.log.Info("replication requested", "tenant", actor.Name, "image", name, "version", v, "targets", len(req.TargetRegions), "new", len(jobs))
	return s.replication(ctx, id)
}

// Replication shows where one of the actor's image versions is: the primary region
// first, then its target regions with their progress.
func (s *Service) Replication(ctx context.Context, actor *hangar.Tenant, name, version string) ([]hangar.ReplicationStatus, error) {
	im, v, err := s.ownVersion(ctx, actor, name, version)
	if err != nil {
		return nil, err
	}
	id, _, err := s.db.VersionReplicas(ctx, &im, v)
	if err != nil {
		return nil, err
	}
	return s.replication(ctx, id)
}

func (s *Service) replication(ctx context.Context, versionID string) ([]hangar.ReplicationStatus, error) {
	rs, err := s.db.Replicas(ctx, versionID)
	primary := hangar.ReplicationStatus{Region: s.cfg.PrimaryRegion, ReplicaCount: 1, State: hangar.ReplicationCompleted}
	return append([]hangar.ReplicationStatus{primary}, rs...), err
}

func (s *Service) ownVersion(ctx context.Context, actor *hangar.Tenant, name, version string) (store.Image, hangar.Version, error) {
	v, err := hangar.ParseVersion(version)
	if err != nil {
		return store.Image{}, v, err
	}
	im, err := s.ownImage(ctx, actor, name)
	return im, v, err
}

func (s *Service) regionNames() string {
	names := s.cfg.PrimaryRegion + " (primary)"
	for n := range s.cfg.Regions {
		names += ", " + n
	}
	return names
}

// PrimaryRegion names the region every disk lands in.
func (s *Service) PrimaryRegion() string { return s.cfg.PrimaryRegion }

// UsableIn reports whether a VM in region may use the disks: in the primary region
// always, elsewhere once a replica of a version holding them is complete there.
func (s *Service) UsableIn(ctx context.Context, region string, diskIDs []string) error {
	if region == "" || region == s.cfg.PrimaryRegion {
		return nil
	}
	for _, id := range diskIDs {
		ok, err := s.db.DiskInRegion(ctx, id, region)
		if err != nil {
			return err
		}
		if !ok {
			return hangar.Errorf(hangar.CodeConflict, "the image version is not (yet) replicated to region %q: replicate it with `hangar image replicate` and wait until the region shows Completed", region)
		}
	}
	return nil
}

// RunReplication takes up, until ctx ends, the replication jobs no node holds: those
// of nodes that died and those that failed and wait to be retried.
func (s *Service) RunReplication(ctx context.Context) {
	if len(s.cfg.Regions) == 0 {
		return
	}
	t := time.NewTicker(replicaRetry)
	defer t.Stop()
	for {
		jobs, err := s.db.ClaimReplicaJobs(ctx, s.cfg.Node, time.Now().Add(replicaLease))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("claiming replication jobs failed", "err", err)
		}
		for _, j := range jobs {
			s.log.Info("resuming replication", "version", j.VersionID, "region", j.Region)
			go s.replicate(ctx, j)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// replicate copies a version's chunks that the region lacks. Progress is saved as it
// goes; on an error the job is given back to be retried, and since chunks already
// copied are found present, a retry costs only what is still missing.
func (s *Service) replicate(ctx context.Context, j store.ReplicaJob) {
	dst := s.cfg.Regions[j.Region]
	st := hangar.ReplicationStatus{State: hangar.ReplicationReplicating}
	if dst == nil {
		// Configured on the node that asked but not on this one: leave it to others.
		s.log.Warn("replication job for a region this node has no store for", "region", j.Region)
		return
	}
	todo, err := s.versionChunks(ctx, j.VersionID)
	if err != nil {
		s.giveBack(ctx, j, st, err)
		return
	}
	for _, size := range todo {
		st.TotalBytes += size
	}
	report := func(state string, lease time.Time) bool {
		st.State = state
		ours, err := s.db.ReplicaProgress(ctx, j, s.cfg.Node, st, lease)
		return err == nil && ours
	}
	if !report(hangar.ReplicationReplicating, time.Now().Add(replicaLease)) {
		return
	}
	// Progress is saved, and the lease renewed, about once a second.
	saved := time.Now()
	err = chunks.CopyMissing(ctx, s.chunks, dst, todo, replicaWorkers, func(size, copied int64) error {
		st.DoneBytes += size
		st.CopiedBytes += copied
		if time.Since(saved) < time.Second {
			return nil
		}
		saved = time.Now()
		if !report(hangar.ReplicationReplicating, saved.Add(replicaLease)) {
			return errNotOurs
		}
		return nil
	})
	switch {
	case errors.Is(err, errNotOurs) || ctx.Err() != nil:
		return
	case err != nil:
		s.giveBack(ctx, j, st, err)
		return
	}
	report(hangar.ReplicationCompleted, time.Time{})
	s.log.Info("replication completed", "version", j.VersionID, "region", j.Region, "bytes", st.TotalBytes, "copied", st.CopiedBytes)
}

// errNotOurs stops a replication whose job another node has taken over.
var errNotOurs = errors.New("the replication job is no longer this node's")

// giveBack records the error and lets the lease lapse soon, so that this node or
// another retries the job.
func (s *Service) giveBack(ctx context.Context, j store.ReplicaJob, st hangar.ReplicationStatus, err error) {
	s.log.Warn("replication failed; it will be retried", "version", j.VersionID, "region", j.Region, "err", err)
	msg := "retrying after an error"
	if errors.Is(err, chunks.ErrUnavailable) {
		msg = "retrying: a chunk store is unavailable"
	}
	st.Message = msg
	s.db.ReplicaProgress(ctx, j, s.cfg.Node, st, time.Now().Add(replicaRetry))
}

// versionChunks returns the distinct chunks of a version's disks with their sizes.
func (s *Service) versionChunks(ctx context.Context, versionID string) (map[chunks.Digest]int64, error) {
	ids, err := s.db.VersionDiskIDs(ctx, versionID)
	if err != nil {
		return nil, err
	}
	out := map[chunks.Digest]int64{}
	for _, id := range ids {
		m, err := s.db.Manifest(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, e := range m.Extents {
			out[e.Digest] = e.Length
		}
	}
	return out, nil
}
