package compute

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hangarvm/hangar/internal/appliance"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/generalize"
	"github.com/hangarvm/hangar/internal/hangar"
)

// GeneralizeDisk generalizes one of the actor's stored Linux disks offline, without
// booting it, into a new disk (the original stays as it was): the disk is written
// out as a sparse raw file, cleaned inside the appliance (package appliance: its
// file system checked before and after), and stored again; only the chunks the
// clean-up changed are new.
func (m *Manager) GeneralizeDisk(ctx context.Context, actor *hangar.Tenant, name string, req hangar.DiskGeneralize) (hangar.DiskGeneralized, error) {
	var res hangar.DiskGeneralized
	if req.Name == "" {
		req.Name = name + "-generalized"
	}
	if err := hangar.ValidateName("disk", req.Name); err != nil {
		return res, err
	}
	src, err := m.cat.Disk(ctx, actor, name)
	if err != nil {
		return res, err
	}
	// The new disk stores about what its source does: refuse before writing the
	// source out if it cannot fit the tenant's quotas (the commit checks again).
	if !req.DryRun {
		if err := m.cat.CheckQuota(ctx, actor, hangar.Resources{Disks: 1, StoredBytes: src.StoredBytes, TotalVirtualSize: src.VirtualSize}); err != nil {
			return res, err
		}
	}
	manifest, err := m.db.Manifest(ctx, src.ID)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(m.cfg.Dir, 0o700); err != nil {
		return res, err
	}
	work, err := os.MkdirTemp(m.cfg.Dir, "generalize-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	raw, err := m.bases.writeRaw(ctx, work, manifest)
	if err != nil {
		return res, err
	}
	rep, err := m.appliance().Generalize(ctx, generalize.Options{Image: raw, RemoveUser: req.RemoveUser, DryRun: req.DryRun})
	if err != nil {
		return res, generalizeError(err)
	}
	for _, c := range rep.Changes {
		res.Changes = append(res.Changes, fmt.Sprintf("%s %s: %s", c.Op, c.Path, c.What))
	}
	res.Notes = rep.Notes
	if req.DryRun {
		return res, nil
	}
	m2, err := m.storeRaw(ctx, raw)
	if err != nil {
		return res, err
	}
	dk := hangar.Disk{Name: req.Name, SourceFormat: "generalized"}
	if err := m.db.CommitDisk(ctx, actor.ID, "", &dk, m2); err != nil {
		return res, err
	}
	res.Disk = &dk
	m.log.Info("disk generalized", "tenant", actor.Name, "disk", name, "into", req.Name, "changes", len(res.Changes))
	return res, nil
}

func generalizeError(err error) error {
	for _, refusal := range []error{generalize.ErrWindows, generalize.ErrNoRoot, generalize.ErrSeveralRoot,
		generalize.ErrNoPartitionTable, generalize.ErrBadPartitionTable, generalize.ErrCheckFailed, generalize.ErrAppliance} {
		if errors.Is(err, refusal) {
			return hangar.Errorf(hangar.CodeInvalidDisk, "%v", err)
		}
	}
	if errors.Is(err, appliance.ErrMissing) {
		return hangar.Errorf(hangar.CodeUnavailable, "offline generalization is not available on this host: %v", err)
	}
	return err
}

// storeRaw chunks a raw file into the chunk store and returns its manifest.
func (m *Manager) storeRaw(ctx context.Context, path string) (chunks.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return chunks.Manifest{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return chunks.Manifest{}, err
	}
	disk, err := diskfmt.Open(f, fi.Size(), diskfmt.Options{MaxVirtualSize: fi.Size()})
	if err != nil {
		return chunks.Manifest{}, err
	}
	return m.cat.StoreChunks(ctx, disk)
}
