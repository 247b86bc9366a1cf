package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/hangar"
)

// ListDisks lists the actor's disks.
func (s *Service) ListDisks(ctx context.Context, actor *hangar.Tenant) ([]hangar.Disk, error) {
	return s.db.ListDisks(ctx, actor.ID)
}

// Disk returns one of the actor's disks.
func (s *Service) Disk(ctx context.Context, actor *hangar.Tenant, name string) (hangar.Disk, error) {
	if err := hangar.ValidateName("disk", name); err != nil {
		return hangar.Disk{}, err
	}
	return s.db.DiskByName(ctx, actor.ID, name)
}

// SetDiskTags replaces the tags of one of the actor's disks.
func (s *Service) SetDiskTags(ctx context.Context, actor *hangar.Tenant, name string, tags hangar.Tags, pre hangar.Precondition) (hangar.Disk, error) {
	if err := hangar.ValidateTags(tags); err != nil {
		return hangar.Disk{}, err
	}
	dk, err := s.Disk(ctx, actor, name)
	if err != nil {
		return dk, err
	}
	if err := s.db.SetDiskTags(ctx, dk, tags, pre); err != nil {
		return dk, err
	}
	return s.db.DiskByName(ctx, actor.ID, name)
}

// DeleteDisk deletes one of the actor's disks unless an image version holds it, and
// only if pre holds.
func (s *Service) DeleteDisk(ctx context.Context, actor *hangar.Tenant, name string, pre hangar.Precondition) error {
	if err := hangar.ValidateName("disk", name); err != nil {
		return err
	}
	return s.db.DeleteDisk(ctx, actor.ID, name, pre)
}

func (s *Service) checkVirtualSize(size int64) error {
	switch {
	case size <= 0 || size%512 != 0:
		return hangar.Errorf(hangar.CodeInvalid, "virtual size %d is not a positive multiple of 512 bytes", size)
	case size > s.cfg.MaxVirtualSize:
		return hangar.Errorf(hangar.CodeTooLarge, "virtual size %d bytes is above this server's limit of %d bytes", size, s.cfg.MaxVirtualSize)
	}
	return nil
}

// CreateUpload starts a chunked upload of a disk named req.Name.
func (s *Service) CreateUpload(ctx context.Context, actor *hangar.Tenant, req hangar.UploadCreate) (hangar.Upload, error) {
	if err := hangar.ValidateName("disk", req.Name); err != nil {
		return hangar.Upload{}, err
	}
	if err := s.checkVirtualSize(req.VirtualSize); err != nil {
		return hangar.Upload{}, err
	}
	if !diskfmt.Format(req.SourceFormat).Known() {
		return hangar.Upload{}, hangar.Errorf(hangar.CodeInvalid, "source format %q is not a disk format Hangar reads: "+
			"say raw, vhd-fixed, vhd-dynamic, vhdx, qcow2 or vmdk (hangar disk inspect FILE tells)", req.SourceFormat)
	}
	if _, err := s.db.DiskByName(ctx, actor.ID, req.Name); err == nil {
		return hangar.Upload{}, hangar.Errorf(hangar.CodeConflict, "disk %q already exists; delete it first or choose another name", req.Name)
	}
	u := hangar.Upload{Name: req.Name, VirtualSize: req.VirtualSize, SourceFormat: req.SourceFormat}
	return u, s.db.CreateUpload(ctx, actor.ID, &u)
}

// Upload returns one of the actor's uploads.
func (s *Service) Upload(ctx context.Context, actor *hangar.Tenant, id string) (hangar.Upload, error) {
	return s.db.Upload(ctx, actor.ID, id)
}

// CancelUpload forgets an upload.
func (s *Service) CancelUpload(ctx context.Context, actor *hangar.Tenant, id string) error {
	if _, err := s.db.Upload(ctx, actor.ID, id); err != nil {
		return err
	}
	return s.db.DeleteUpload(ctx, actor.ID, id)
}

// MissingChunks tells which chunks the client must send. A chunk counts as present
// only if this upload delivered it or the actor's own disks reference it: a chunk that
// only other tenants hold is reported missing, so dedup is no oracle.
func (s *Service) MissingChunks(ctx context.Context, actor *hangar.Tenant, uploadID string, req hangar.MissingChunks) (hangar.MissingChunksResult, error) {
	if len(req.Digests) > hangar.MaxMissingDigests {
		return hangar.MissingChunksResult{}, hangar.Errorf(hangar.CodeInvalid, "%d digests in one question; ask about at most %d at a time", len(req.Digests), hangar.MaxMissingDigests)
	}
	if _, err := s.db.Upload(ctx, actor.ID, uploadID); err != nil {
		return hangar.MissingChunksResult{}, err
	}
	known, err := s.db.KnownChunks(ctx, actor.ID, uploadID, req.Digests)
	if err != nil {
		return hangar.MissingChunksResult{}, err
	}
	// A chunk the store lost in a crash (power loss) before the upload's commit
	// made it durable must be sent again, although the upload had delivered it.
	for _, d := range s.chunks.Lost(req.Digests) {
		known[d] = false
	}
	res := hangar.MissingChunksResult{Missing: []chunks.Digest{}}
	for _, d := range req.Digests {
		if !known[d] {
			res.Missing = append(res.Missing, d)
			known[d] = true // report each digest once
		}
	}
	return res, nil
}

// PutChunk receives one chunk of an upload, verifies it against its digest and
// stores it. body is read up to one chunk and a byte.
func (s *Service) PutChunk(ctx context.Context, actor *hangar.Tenant, uploadID string, d chunks.Digest, body io.Reader) error {
	u, err := s.db.Upload(ctx, actor.ID, uploadID)
	if err != nil {
		return err
	}
	if err := s.checkChunkRoom(ctx, actor, u, d); err != nil {
		return err
	}
	release, err := s.slots.acquire(ctx, actor.ID, uploadID)
	if err != nil {
		return err
	}
	defer release()
	bp := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(bp)
	n, err := io.ReadFull(body, *bp)
	switch {
	case err == nil:
		return hangar.Errorf(hangar.CodeTooLarge, "chunk %s is larger than the chunk size of %d bytes", d.Short(), chunks.ChunkSize)
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		return hangar.Errorf(hangar.CodeInvalid, "reading chunk %s: %v; send it again", d.Short(), err)
	}
	// Group commit: CommitUpload makes the upload's chunks durable together.
	if err := s.chunks.PutDeferred(ctx, d, (*bp)[:n]); err != nil {
		if errors.Is(err, chunks.ErrCorrupt) {
			return hangar.Errorf(hangar.CodeInvalid, "%v; the chunk was damaged in transit or read wrongly, send it again", err)
		}
		return err
	}
	return s.db.AddUploadChunk(ctx, uploadID, d)
}

// checkChunkRoom refuses a new chunk for an upload that already holds as many
// distinct chunks as a disk of its virtual size has places for: an honest client
// never needs more, and an upload that is never committed must not become
// storage that no quota counts.
func (s *Service) checkChunkRoom(ctx context.Context, actor *hangar.Tenant, u hangar.Upload, d chunks.Digest) error {
	places := (u.VirtualSize + chunks.ChunkSize - 1) / chunks.ChunkSize
	n, err := s.db.UploadChunkCount(ctx, u.ID)
	if err != nil || n < places {
		return err
	}
	known, err := s.db.KnownChunks(ctx, actor.ID, u.ID, []chunks.Digest{d})
	if err != nil || known[d] {
		return err // sent again, or already the tenant's: nothing new is stored
	}
	return hangar.Errorf(hangar.CodeTooLarge, "upload %s already holds %d chunks, as many as a disk of %d bytes has places for; commit it, or cancel it and upload again", u.ID, n, u.VirtualSize)
}

// CommitUpload makes the uploaded chunks a disk. Every extent must be a chunk this
// upload delivered or one the actor already references.
func (s *Service) CommitUpload(ctx context.Context, actor *hangar.Tenant, uploadID string, req hangar.UploadCommit) (hangar.Disk, error) {
	u, err := s.db.Upload(ctx, actor.ID, uploadID)
	if err != nil {
		return hangar.Disk{}, err
	}
	m := chunks.Manifest{VirtualSize: u.VirtualSize, Extents: req.Extents}
	if err := m.Validate(); err != nil {
		return hangar.Disk{}, hangar.Errorf(hangar.CodeInvalid, "manifest: %v", err)
	}
	// Each digest once: a manifest may list one chunk at many offsets.
	digests := make([]chunks.Digest, 0, len(m.Extents))
	seen := make(map[chunks.Digest]bool)
	for _, e := range m.Extents {
		if !seen[e.Digest] {
			seen[e.Digest] = true
			digests = append(digests, e.Digest)
		}
	}
	known, err := s.db.KnownChunks(ctx, actor.ID, uploadID, digests)
	if err != nil {
		return hangar.Disk{}, err
	}
	for _, e := range m.Extents {
		if !known[e.Digest] {
			return hangar.Disk{}, hangar.Errorf(hangar.CodeInvalid, "chunk %s at offset %d was never uploaded; ask which chunks are missing and send them before committing", e.Digest.Short(), e.Offset)
		}
	}
	// Every chunk the disk will reference is made durable before the commit, also
	// those another upload sent and has not committed yet.
	if err := s.chunks.Sync(ctx, digests); err != nil {
		return hangar.Disk{}, fmt.Errorf("make the upload's chunks durable: %w", err)
	}
	dk := hangar.Disk{Name: u.Name, SourceFormat: u.SourceFormat}
	if err := s.db.CommitDisk(ctx, actor.ID, uploadID, &dk, m); err != nil {
		return hangar.Disk{}, err
	}
	s.log.Info("disk committed", "tenant", actor.Name, "disk", dk.Name, "virtualSize", dk.VirtualSize, "storedBytes", dk.StoredBytes)
	return dk, nil
}

// ImportDisk stores a whole disk file sent as one stream (for scripts: curl -T). The
// stream is staged to a temporary file, because VHD and other formats keep metadata
// at the end, then opened as untrusted input, chunked and committed in one step. The
// staging file is removed whatever happens; memory use is one chunk.
func (s *Service) ImportDisk(ctx context.Context, actor *hangar.Tenant, name string, body io.Reader) (hangar.Disk, error) {
	lim, err := s.prepareImport(ctx, actor, name)
	if err != nil {
		return hangar.Disk{}, err
	}
	dk, err := s.stageAndStore(ctx, actor, name, body, lim, stageOptions{})
	if err == nil {
		s.log.Info("disk imported", "tenant", actor.Name, "disk", name, "format", dk.SourceFormat, "virtualSize", dk.VirtualSize)
	}
	return dk, err
}

// importLimits bound what one stream may stage: a container holds at most the
// virtual size plus its metadata, so 1/16 more than the largest disk the tenant may
// still store, and 1 MiB.
type importLimits struct {
	limits, use hangar.Resources
	limit       int64 // bytes of file
	quota       bool  // the tenant's quota, not the server's limit, sets it
}

// prepareImport checks what can be checked before any byte is received: the name, a
// disk of that name, the tenant's disk count; and works out the limits.
func (s *Service) prepareImport(ctx context.Context, actor *hangar.Tenant, name string) (importLimits, error) {
	if err := hangar.ValidateName("disk", name); err != nil {
		return importLimits{}, err
	}
	if _, err := s.db.DiskByName(ctx, actor.ID, name); err == nil {
		return importLimits{}, hangar.Errorf(hangar.CodeConflict, "disk %q already exists; delete it first or choose another name", name)
	}
	limits, use, _, err := s.db.TenantQuota(ctx, actor.ID)
	if err != nil {
		return importLimits{}, err
	}
	if err := hangar.CheckQuota(actor.Name, limits, use, hangar.Resources{Disks: 1}); err != nil {
		return importLimits{}, err
	}
	lim := importLimits{limits: limits, use: use}
	largest := s.cfg.MaxVirtualSize
	if left := limits.TotalVirtualSize - use.TotalVirtualSize; limits.TotalVirtualSize > 0 && left < largest {
		largest, lim.quota = max(left, 0), true
	}
	lim.limit = largest + largest/16 + 1<<20
	return lim, nil
}

// tooLarge is the refusal of a file of n bytes, above lim.limit.
func (s *Service) tooLarge(actor *hangar.Tenant, lim importLimits, n int64) error {
	if lim.quota {
		return hangar.CheckQuota(actor.Name, lim.limits, lim.use, hangar.Resources{TotalVirtualSize: n})
	}
	return hangar.Errorf(hangar.CodeTooLarge, "the disk file is larger than this server accepts (%d bytes)", lim.limit)
}

// stageOptions are what an import from a URL adds to a streamed upload.
type stageOptions struct {
	sha256   []byte                  // the file's checksum, when the user gave one
	progress func(n int64)           // told of the bytes received
	storing  func(done, total int64) // told how far into the virtual disk storing the chunks is
	where    string                  // the source, for messages
}

// stageAndStore stages body to a temporary file (at most lim.limit bytes), checks its
// checksum, opens it as an untrusted disk image, stores its chunks and commits the
// disk in one transaction: until then nothing of it is visible.
func (s *Service) stageAndStore(ctx context.Context, actor *hangar.Tenant, name string, body io.Reader, lim importLimits, opt stageOptions) (hangar.Disk, error) {
	f, err := os.CreateTemp(s.cfg.StagingDir, "import-*")
	if err != nil {
		return hangar.Disk{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	var w io.Writer = io.MultiWriter(f, h)
	if opt.progress != nil {
		w = io.MultiWriter(w, progressWriter(opt.progress))
	}
	n, err := io.Copy(w, io.LimitReader(body, lim.limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return hangar.Disk{}, ctx.Err()
		}
		if opt.where != "" {
			return hangar.Disk{}, hangar.Errorf(hangar.CodeImportSource, "reading %s stopped after %d bytes: %v; nothing was stored", opt.where, n, err)
		}
		return hangar.Disk{}, hangar.Errorf(hangar.CodeInvalid, "receiving the disk file: %v", err)
	}
	if n > lim.limit {
		return hangar.Disk{}, s.tooLarge(actor, lim, n)
	}
	if got := h.Sum(nil); opt.sha256 != nil && !bytes.Equal(got, opt.sha256) {
		return hangar.Disk{}, hangar.Errorf(hangar.CodeChecksumMismatch, "the file's SHA-256 is %x, not %x as given: it was not stored", got, opt.sha256)
	}
	disk, err := diskfmt.Open(f, n, diskfmt.Options{MaxVirtualSize: s.cfg.MaxVirtualSize})
	if err != nil {
		return hangar.Disk{}, diskError(err)
	}
	if opt.storing != nil {
		opt.storing(0, disk.VirtualSize())
	}
	m, err := s.storeChunks(ctx, disk, opt.storing)
	if err != nil {
		return hangar.Disk{}, err
	}
	dk := hangar.Disk{Name: name, SourceFormat: string(disk.Format())}
	if err := s.db.CommitDisk(ctx, actor.ID, "", &dk, m); err != nil {
		return hangar.Disk{}, err
	}
	return dk, nil
}

// progressWriter counts what is written through it.
type progressWriter func(n int64)

func (p progressWriter) Write(b []byte) (int, error) { p(int64(len(b))); return len(b), nil }

// diskError turns a disk format error into a user error that names the problem.
func diskError(err error) error {
	switch {
	case errors.Is(err, diskfmt.ErrTooLarge):
		return hangar.Errorf(hangar.CodeTooLarge, "%v", err)
	case errors.Is(err, diskfmt.ErrFormat), errors.Is(err, diskfmt.ErrUnsupported):
		return hangar.Errorf(hangar.CodeInvalidDisk, "%v", err)
	}
	return err
}

// SaveChunk stores one verified chunk of a disk a node makes itself (a VM's capture
// or backup) in the primary store, where every disk's chunks land: downloads,
// replication and the primary store's garbage collection all look there, whichever
// region the node is in.
func (s *Service) SaveChunk(ctx context.Context, d chunks.Digest, data []byte) error {
	return s.chunks.Put(ctx, d, data)
}

// StoreChunks writes the non-zero chunks of disk to the chunk store and returns its
// manifest.
func (s *Service) StoreChunks(ctx context.Context, disk diskfmt.Disk) (chunks.Manifest, error) {
	return s.storeChunks(ctx, disk, nil)
}

// storeChunks is StoreChunks, telling progress (unless nil) how far into the
// virtual disk it is.
func (s *Service) storeChunks(ctx context.Context, disk diskfmt.Disk, progress func(done, total int64)) (chunks.Manifest, error) {
	m := chunks.Manifest{VirtualSize: disk.VirtualSize()}
	if err := s.checkVirtualSize(m.VirtualSize); err != nil {
		return m, err
	}
	err := chunks.Walk(ctx, disk, m.VirtualSize, spans(disk.Extents()), func(off int64, data []byte) error {
		d := chunks.Sum(data)
		if err := s.chunks.Put(ctx, d, data); err != nil {
			return err
		}
		m.Extents = append(m.Extents, chunks.Extent{Offset: off, Length: int64(len(data)), Digest: d})
		if progress != nil {
			progress(off+int64(len(data)), m.VirtualSize)
		}
		return nil
	})
	if err != nil {
		var fe *diskfmt.FormatError
		if errors.As(err, &fe) {
			return m, diskError(err)
		}
		return m, fmt.Errorf("store chunks: %w", err)
	}
	return m, nil
}

// spans converts a disk's allocated extents for chunks.Walk.
func spans(exts []diskfmt.Extent) []chunks.Span {
	out := make([]chunks.Span, len(exts))
	for i, e := range exts {
		out[i] = chunks.Span{Offset: e.Offset, Length: e.Length}
	}
	return out
}
