package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
	"github.com/hangarvm/hangar/internal/syndicate"
)

// Air-gapped syndication: a bundle (package syndicate) is exported through the
// upstream side of the API (an admin sees every offer) and imported here by a
// client that hands over its signed catalog, then its manifests and chunks, then
// asks for the versions to be made visible. Each step checks what it receives
// against what the pinned key signed; a version becomes visible only once all of it
// is here.

// importJob is a version being imported with its verified entry.
type importJob struct {
	key   store.SyndicationJobKey
	entry syndicate.Entry
}

// ImportCatalog starts importing a bundle's versions (admins): the catalog must be
// signed by the pinned key of an upstream. Versions already here are left alone.
func (s *Service) ImportCatalog(ctx context.Context, actor *hangar.Tenant, c syndicate.Catalog) (hangar.ImportStatus, error) {
	if err := requireAdmin(actor, "import marketplace bundles"); err != nil {
		return hangar.ImportStatus{}, err
	}
	u, err := s.db.UpstreamByFingerprint(ctx, c.Key)
	if err != nil {
		return hangar.ImportStatus{}, err
	}
	pub, err := syndicate.ParsePublicKey(u.PublicKey)
	if err != nil {
		return hangar.ImportStatus{}, err
	}
	body, entries, err := syndicate.VerifyCatalog(pub, c)
	if err != nil {
		return hangar.ImportStatus{}, hangar.Errorf(hangar.CodeInvalid, "the bundle's catalog is refused: %v; nothing was imported", err)
	}
	local, err := s.db.SyndicatedEntries(ctx, u.Name)
	if err != nil {
		return hangar.ImportStatus{}, err
	}
	st := hangar.ImportStatus{Upstream: u.Name, Entries: []hangar.ImportEntry{}}
	for i, e := range entries {
		ie := hangar.ImportEntry{URN: e.URN, State: hangar.SyndicationCompleted, Manifests: []string{}}
		key := strings.ToLower(e.URN)
		if _, ok := local[key]; ok {
			st.Entries = append(st.Entries, ie)
			continue
		}
		raw, err := json.Marshal(body.Entries[i])
		if err != nil {
			return st, err
		}
		if _, err := s.db.StartImportJob(ctx, u.Name, e.URN, string(raw)); err != nil {
			return st, err
		}
		j, err := s.db.SyndicationJob(ctx, store.SyndicationJobKey{Upstream: u.Name, URNKey: key})
		if err != nil {
			return st, err
		}
		ie.State = j.State
		if j.State == hangar.SyndicationImporting {
			for _, d := range e.Disks {
				have, err := s.db.ImportManifest(ctx, u.Name, d.Manifest)
				if err != nil {
					return st, err
				}
				if have == nil {
					ie.Manifests = append(ie.Manifests, d.Manifest.String())
				}
			}
		}
		st.Entries = append(st.Entries, ie)
	}
	s.log.Info("bundle catalog accepted", "upstream", u.Name, "versions", len(entries), "by", actor.Name)
	return st, nil
}

// importJobs returns upstream's versions being imported, their entries verified.
func (s *Service) importJobs(ctx context.Context, u *store.Upstream) ([]importJob, error) {
	pub, err := syndicate.ParsePublicKey(u.PublicKey)
	if err != nil {
		return nil, err
	}
	jobs, err := s.db.SyndicationJobs(ctx)
	if err != nil {
		return nil, err
	}
	var out []importJob
	for _, j := range jobs {
		if j.Key.Upstream != u.Name || j.State != hangar.SyndicationImporting {
			continue
		}
		var signed syndicate.Signed
		if err := json.Unmarshal([]byte(j.SignedEntry), &signed); err != nil {
			return nil, err
		}
		e, err := syndicate.VerifyEntry(pub, signed)
		if err != nil {
			return nil, err
		}
		out = append(out, importJob{key: j.Key, entry: e})
	}
	return out, nil
}

// ImportManifest receives a manifest of a version being imported from upstream
// (admins). It is kept only if a signed entry names its digest, and it answers
// with the chunks of it this installation lacks.
func (s *Service) ImportManifest(ctx context.Context, actor *hangar.Tenant, upstream string, dg chunks.Digest, body io.Reader) (hangar.ImportManifestResult, error) {
	if err := requireAdmin(actor, "import marketplace bundles"); err != nil {
		return hangar.ImportManifestResult{}, err
	}
	u, err := s.db.UpstreamByName(ctx, upstream)
	if err != nil {
		return hangar.ImportManifestResult{}, err
	}
	jobs, err := s.importJobs(ctx, &u)
	if err != nil {
		return hangar.ImportManifestResult{}, err
	}
	for _, j := range jobs {
		for _, d := range j.entry.Disks {
			if d.Manifest != dg {
				continue
			}
			data, err := io.ReadAll(io.LimitReader(body, d.ManifestBytes+1))
			if err != nil {
				return hangar.ImportManifestResult{}, err
			}
			m, err := syndicate.CheckManifest(d, data)
			if err != nil {
				return hangar.ImportManifestResult{}, hangar.Errorf(hangar.CodeInvalid, "manifest %s of %s is refused: %v", dg.Short(), j.entry.URN, err)
			}
			if err := s.checkVirtualSize(d.VirtualSize); err != nil {
				return hangar.ImportManifestResult{}, err
			}
			if err := s.db.SaveImportManifest(ctx, u.Name, dg, data); err != nil {
				return hangar.ImportManifestResult{}, err
			}
			digests := distinctDigests(m)
			if err := s.db.HoldSyndicationChunks(ctx, j.key, digests); err != nil {
				return hangar.ImportManifestResult{}, err
			}
			res := hangar.ImportManifestResult{Missing: []string{}}
			for _, c := range digests {
				has, err := s.chunks.Has(ctx, c)
				if err != nil {
					return res, err
				}
				if !has {
					res.Missing = append(res.Missing, c.String())
				}
			}
			return res, nil
		}
	}
	return hangar.ImportManifestResult{}, hangar.Errorf(hangar.CodeNotFound, "no version being imported from %q has a manifest %s; send the bundle's catalog first", upstream, dg.Short())
}

// ImportChunk receives a chunk of a version being imported from upstream (admins):
// only a chunk a received manifest names, and only if it hashes to its digest.
func (s *Service) ImportChunk(ctx context.Context, actor *hangar.Tenant, upstream string, dg chunks.Digest, body io.Reader) error {
	if err := requireAdmin(actor, "import marketplace bundles"); err != nil {
		return err
	}
	held, err := s.db.HeldChunk(ctx, upstream, dg)
	if err != nil {
		return err
	}
	if !held {
		return hangar.Errorf(hangar.CodeNotFound, "no manifest received from %q names chunk %s; send the manifests first", upstream, dg.Short())
	}
	data, err := io.ReadAll(io.LimitReader(body, chunks.ChunkSize+1))
	if err != nil {
		return err
	}
	if len(data) > chunks.ChunkSize {
		return hangar.Errorf(hangar.CodeTooLarge, "a chunk is at most %d bytes", chunks.ChunkSize)
	}
	if err := s.chunks.Put(ctx, dg, data); err != nil {
		return hangar.Errorf(hangar.CodeInvalid, "chunk %s is refused: %v", dg.Short(), err)
	}
	return nil
}

// CommitImport makes visible every version being imported from upstream whose
// manifests and chunks are all here (admins). The others stay Importing, saying
// what they wait for.
func (s *Service) CommitImport(ctx context.Context, actor *hangar.Tenant, upstream string) ([]hangar.SyndicationJob, error) {
	if err := requireAdmin(actor, "import marketplace bundles"); err != nil {
		return nil, err
	}
	u, err := s.db.UpstreamByName(ctx, upstream)
	if err != nil {
		return nil, err
	}
	jobs, err := s.importJobs(ctx, &u)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if err := s.commitImported(ctx, &u, j); err != nil {
			return nil, err
		}
	}
	all, err := s.db.SyndicationJobs(ctx)
	out := []hangar.SyndicationJob{}
	for _, j := range all {
		if j.Key.Upstream == upstream {
			out = append(out, j.SyndicationJob)
		}
	}
	return out, err
}

func (s *Service) commitImported(ctx context.Context, u *store.Upstream, j importJob) error {
	var st hangar.SyndicationJob
	manifests := make([]chunks.Manifest, len(j.entry.Disks))
	waitingManifests := 0
	for i, d := range j.entry.Disks {
		data, err := s.db.ImportManifest(ctx, u.Name, d.Manifest)
		if err != nil {
			return err
		}
		if data == nil {
			waitingManifests++
			continue
		}
		if manifests[i], err = syndicate.CheckManifest(d, data); err != nil {
			return err
		}
	}
	if waitingManifests > 0 {
		st.Message = fmt.Sprintf("waiting for %d manifests: import the bundle", waitingManifests)
		return s.db.ImportProgress(ctx, j.key, st)
	}
	seen := map[chunks.Digest]bool{}
	for _, m := range manifests {
		for _, x := range m.Extents {
			if seen[x.Digest] {
				continue
			}
			seen[x.Digest] = true
			st.TotalChunks++
			st.TotalBytes += x.Length
			has, err := s.chunks.Has(ctx, x.Digest)
			if err != nil {
				return err
			}
			if has {
				st.DoneChunks++
				st.DoneBytes += x.Length
			}
		}
	}
	if st.DoneChunks < st.TotalChunks {
		st.Message = fmt.Sprintf("waiting for %d of %d chunks: import the bundle's other parts, or the earlier bundle it was exported --since",
			st.TotalChunks-st.DoneChunks, st.TotalChunks)
		return s.db.ImportProgress(ctx, j.key, st)
	}
	err := s.commitVersion(ctx, j.key, u, &j.entry, manifests, "", hangar.SyndicationImporting, &st)
	if err == nil {
		s.log.Info("imported marketplace version", "upstream", u.Name, "urn", j.entry.URN, "chunks", st.TotalChunks)
		return nil
	}
	if hangar.ErrorCode(err) == hangar.CodeConflict {
		st.Message = err.Error()
		return s.db.ImportProgress(ctx, j.key, st)
	}
	return err
}

func distinctDigests(m chunks.Manifest) []chunks.Digest {
	seen := map[chunks.Digest]bool{}
	var out []chunks.Digest
	for _, x := range m.Extents {
		if !seen[x.Digest] {
			seen[x.Digest] = true
			out = append(out, x.Digest)
		}
	}
	return out
}
