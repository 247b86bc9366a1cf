package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/syndicate"
)

// ExportCatalog fetches the server's signed catalog of the versions matching the
// patterns (PUBLISHER:OFFER[:SKU[:VERSION]]); an admin's key sees every version.
func (c *Client) ExportCatalog(ctx context.Context, patterns []string) (syndicate.Catalog, error) {
	q := url.Values{"pattern": patterns}
	b := bounded{max: syndicate.MaxCatalogBytes + 4096}
	if err := c.do(ctx, "GET", "/v1/syndication/catalog?"+q.Encode(), nil, &b); err != nil {
		return syndicate.Catalog{}, err
	}
	return syndicate.ParseCatalog(b.data)
}

// ImportCatalog hands the server a bundle's signed catalog.
func (c *Client) ImportCatalog(ctx context.Context, cat syndicate.Catalog) (hangar.ImportStatus, error) {
	var out hangar.ImportStatus
	return out, c.do(ctx, "POST", "/v1/marketplace/imports", cat, &out)
}

// ImportManifest sends a manifest of a version being imported.
func (c *Client) ImportManifest(ctx context.Context, upstream string, d chunks.Digest, data []byte) (hangar.ImportManifestResult, error) {
	var out hangar.ImportManifestResult
	return out, c.do(ctx, "PUT", "/v1/marketplace/imports/"+esc(upstream)+"/manifests/"+d.String(), bytes.NewReader(data), &out)
}

// ImportChunk sends a chunk of a version being imported.
func (c *Client) ImportChunk(ctx context.Context, upstream string, d chunks.Digest, data []byte) error {
	return c.do(ctx, "PUT", "/v1/marketplace/imports/"+esc(upstream)+"/chunks/"+d.String(), bytes.NewReader(data), nil)
}

// CommitImport asks the server to make visible the versions whose data is all there.
func (c *Client) CommitImport(ctx context.Context, upstream string) ([]hangar.SyndicationJob, error) {
	var out []hangar.SyndicationJob
	return out, c.do(ctx, "POST", "/v1/marketplace/imports/"+esc(upstream)+"/commit", nil, &out)
}

// ExportOptions adjusts ExportBundle.
type ExportOptions struct {
	// Since is an earlier bundle (its directory): chunks it carried are left out.
	Since string
	// PartSize, when positive, splits the chunks into parts of about that many
	// bytes, each in a directory part-001, part-002, ... of the bundle.
	PartSize int64
	// Progress, when set, is told the bytes written so far and in all.
	Progress func(done, total int64)
}

// ExportResult describes a written bundle.
type ExportResult struct {
	Dir      string   `json:"dir"`
	Bundle   string   `json:"bundle"`
	Parts    []string `json:"parts"`
	Versions []string `json:"versions"`
	Chunks   int      `json:"chunks"`
	Bytes    int64    `json:"bytes"`
	Skipped  int      `json:"skippedChunks"` // carried by the --since bundle
}

// ExportBundle writes the versions matching the patterns as a bundle in dir
// (package syndicate describes the layout). Chunk files already there and whole
// are kept, so an interrupted export run again only writes what is missing.
func (c *Client) ExportBundle(ctx context.Context, patterns []string, dir string, opt ExportOptions) (ExportResult, error) {
	res := ExportResult{Dir: dir, Parts: []string{}, Versions: []string{}}
	cat, err := c.ExportCatalog(ctx, patterns)
	if err != nil {
		return res, err
	}
	_, entries, err := syndicate.DecodeCatalog(cat)
	if err != nil {
		return res, err
	}
	if len(entries) == 0 {
		return res, hangar.Errorf(hangar.CodeNotFound, "no marketplace version matches %v", patterns)
	}
	since := map[chunks.Digest]bool{}
	if opt.Since != "" {
		if since, err = bundleChunks(opt.Since); err != nil {
			return res, fmt.Errorf("--since %s: %w", opt.Since, err)
		}
	}
	manifests := map[chunks.Digest][]byte{}
	var carried []syndicate.BundleChunk
	var previous []chunks.Digest
	seen := map[chunks.Digest]bool{}
	for _, e := range entries {
		res.Versions = append(res.Versions, e.URN)
		for _, d := range e.Disks {
			raw, err := c.SyndicationManifest(ctx, e.URN, d.LUN, d.ManifestBytes)
			if err != nil {
				return res, err
			}
			m, err := syndicate.CheckManifest(d, raw)
			if err != nil {
				return res, err
			}
			manifests[d.Manifest] = raw
			for _, x := range m.Extents {
				if seen[x.Digest] {
					continue
				}
				seen[x.Digest] = true
				if since[x.Digest] {
					previous = append(previous, x.Digest)
					res.Skipped++
					continue
				}
				carried = append(carried, syndicate.BundleChunk{Digest: x.Digest, Size: x.Length})
				res.Bytes += x.Length
			}
		}
	}
	res.Chunks = len(carried)
	parts := splitChunks(carried, opt.PartSize)
	res.Bundle = syndicate.BundleID(cat)
	catJSON, err := json.Marshal(cat)
	if err != nil {
		return res, err
	}
	var done int64
	for i, part := range parts {
		pdir := dir
		if len(parts) > 1 {
			pdir = filepath.Join(dir, fmt.Sprintf("part-%03d", i+1))
		}
		res.Parts = append(res.Parts, pdir)
		if err := atomicfile.MkdirAll(pdir, 0o755); err != nil {
			return res, err
		}
		if err := atomicfile.WriteFile(filepath.Join(pdir, syndicate.CatalogFile), catJSON, 0o644); err != nil {
			return res, err
		}
		for d, raw := range manifests {
			if err := writeBundleFile(pdir, syndicate.ManifestPath(d), raw); err != nil {
				return res, err
			}
		}
		for _, bc := range part {
			path := filepath.Join(pdir, filepath.FromSlash(syndicate.ChunkPath(bc.Digest)))
			if data, err := os.ReadFile(path); err != nil || chunks.Sum(data) != bc.Digest {
				data, err := c.SyndicationChunk(ctx, bc.Digest)
				if err != nil {
					return res, err
				}
				if chunks.Sum(data) != bc.Digest {
					return res, fmt.Errorf("%w: chunk %s from the server", chunks.ErrCorrupt, bc.Digest.Short())
				}
				if err := writeBundleFile(pdir, syndicate.ChunkPath(bc.Digest), data); err != nil {
					return res, err
				}
			}
			done += bc.Size
			if opt.Progress != nil {
				opt.Progress(done, res.Bytes)
			}
		}
		ix := syndicate.Index{Format: syndicate.BundleFormat, Bundle: res.Bundle, Part: i + 1, Parts: len(parts), Issuer: cat.Key,
			Chunks: part, Previous: previous}
		data, err := json.MarshalIndent(ix, "", " ")
		if err != nil {
			return res, err
		}
		// Last: a part with an index is whole.
		if err := atomicfile.WriteFile(filepath.Join(pdir, syndicate.IndexFile), data, 0o644); err != nil {
			return res, err
		}
	}
	return res, nil
}

func writeBundleFile(dir, rel string, data []byte) error {
	path := filepath.Join(dir, filepath.FromSlash(rel))
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

// splitChunks cuts the chunks into parts of about size bytes (one part if size is
// not positive); there is always at least one part.
func splitChunks(all []syndicate.BundleChunk, size int64) [][]syndicate.BundleChunk {
	if size <= 0 || len(all) == 0 {
		return [][]syndicate.BundleChunk{append([]syndicate.BundleChunk{}, all...)}
	}
	var parts [][]syndicate.BundleChunk
	var cur []syndicate.BundleChunk
	var n int64
	for _, c := range all {
		if len(cur) > 0 && n+c.Size > size {
			parts = append(parts, cur)
			cur, n = nil, 0
		}
		cur = append(cur, c)
		n += c.Size
	}
	return append(parts, cur)
}

// bundleParts returns the part directories of a bundle: dir itself when it holds
// an index, else its part-* directories in order.
func bundleParts(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, syndicate.IndexFile)); err == nil {
		return []string{dir}, nil
	}
	parts, err := filepath.Glob(filepath.Join(dir, "part-*", syndicate.IndexFile))
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: %s has no %s (nor part-*/%s): not a bundle, or a part not completely written", syndicate.ErrInvalid, dir, syndicate.IndexFile, syndicate.IndexFile)
	}
	sort.Strings(parts)
	for i := range parts {
		parts[i] = filepath.Dir(parts[i])
	}
	return parts, nil
}

// bundleChunks returns every chunk a bundle's parts carried or named as carried
// by earlier bundles.
func bundleChunks(dir string) (map[chunks.Digest]bool, error) {
	parts, err := bundleParts(dir)
	if err != nil {
		return nil, err
	}
	out := map[chunks.Digest]bool{}
	for _, p := range parts {
		ix, err := readIndex(p)
		if err != nil {
			return nil, err
		}
		for _, c := range ix.Chunks {
			out[c.Digest] = true
		}
		for _, d := range ix.Previous {
			out[d] = true
		}
	}
	return out, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%w: %s is longer than %d bytes", syndicate.ErrInvalid, path, limit)
	}
	return data, err
}

func readIndex(part string) (syndicate.Index, error) {
	data, err := readBounded(filepath.Join(part, syndicate.IndexFile), syndicate.MaxIndexBytes)
	if err != nil {
		return syndicate.Index{}, err
	}
	ix, err := syndicate.ParseIndex(data)
	if err != nil {
		return ix, fmt.Errorf("%s: %w", part, err)
	}
	return ix, nil
}

// ImportResult describes an import.
type ImportResult struct {
	Upstream   string                  `json:"upstream"`
	Parts      []string                `json:"parts"`
	SentChunks int                     `json:"sentChunks"`
	SentBytes  int64                   `json:"sentBytes"`
	Jobs       []hangar.SyndicationJob `json:"jobs"`
}

// ErrBundle is wrapped by every error about a bundle's content: the bundle is
// refused and nothing from it becomes visible.
var ErrBundle = errors.New("bundle refused")

// ImportBundle imports a bundle, or one part of it: each part is checked whole
// (its index, every manifest against the catalog's entries, every chunk against
// its digest) before anything of it is sent; the server checks the catalog's
// signature and everything again. Only chunks the server lacks are sent, so an
// interrupted import run again resumes, and importing twice changes nothing.
func (c *Client) ImportBundle(ctx context.Context, dir string, progress func(part string, sent, total int)) (ImportResult, error) {
	res := ImportResult{Parts: []string{}}
	parts, err := bundleParts(dir)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrBundle, err)
	}
	for _, p := range parts {
		res.Parts = append(res.Parts, p)
		if err := c.importPart(ctx, p, &res, progress); err != nil {
			return res, err
		}
	}
	return res, nil
}

// bundlePart is a part read and checked.
type bundlePart struct {
	index     syndicate.Index
	catalog   syndicate.Catalog
	entries   []syndicate.Entry
	manifests map[chunks.Digest][]byte
}

func checkPart(dir string) (bundlePart, error) {
	var bp bundlePart
	var err error
	if bp.index, err = readIndex(dir); err != nil {
		return bp, err
	}
	data, err := readBounded(filepath.Join(dir, syndicate.CatalogFile), syndicate.MaxCatalogBytes+4096)
	if err != nil {
		return bp, err
	}
	if bp.catalog, err = syndicate.ParseCatalog(data); err != nil {
		return bp, err
	}
	if _, bp.entries, err = syndicate.DecodeCatalog(bp.catalog); err != nil {
		return bp, err
	}
	if id := syndicate.BundleID(bp.catalog); bp.index.Bundle != id || bp.index.Issuer != bp.catalog.Key {
		return bp, fmt.Errorf("the index belongs to bundle %s by %s, the catalog to bundle %s by %s: parts of different bundles are mixed",
			bp.index.Bundle, bp.index.Issuer, id, bp.catalog.Key)
	}
	named := map[chunks.Digest]bool{}
	bp.manifests = map[chunks.Digest][]byte{}
	for _, e := range bp.entries {
		for _, d := range e.Disks {
			raw, err := readBounded(filepath.Join(dir, filepath.FromSlash(syndicate.ManifestPath(d.Manifest))), d.ManifestBytes)
			if err != nil {
				return bp, fmt.Errorf("manifest of %s (LUN %d): %w", e.URN, d.LUN, err)
			}
			m, err := syndicate.CheckManifest(d, raw)
			if err != nil {
				return bp, fmt.Errorf("%s: %w", e.URN, err)
			}
			bp.manifests[d.Manifest] = raw
			for _, x := range m.Extents {
				named[x.Digest] = true
			}
		}
	}
	for _, bc := range bp.index.Chunks {
		if !named[bc.Digest] {
			return bp, fmt.Errorf("chunk %s is in the index but in no manifest", bc.Digest.Short())
		}
		path := filepath.Join(dir, filepath.FromSlash(syndicate.ChunkPath(bc.Digest)))
		data, err := readBounded(path, chunks.ChunkSize)
		if err != nil {
			return bp, fmt.Errorf("chunk %s: %w", bc.Digest.Short(), err)
		}
		if int64(len(data)) != bc.Size {
			return bp, fmt.Errorf("chunk %s is truncated: %d of %d bytes", bc.Digest.Short(), len(data), bc.Size)
		}
		if sha256.Sum256(data) != bc.Digest {
			return bp, fmt.Errorf("chunk %s does not match its digest (tampered, or files swapped)", bc.Digest.Short())
		}
	}
	return bp, nil
}

func (c *Client) importPart(ctx context.Context, dir string, res *ImportResult, progress func(string, int, int)) error {
	bp, err := checkPart(dir)
	if err != nil {
		return fmt.Errorf("%w: part %s: %w; nothing was imported from it", ErrBundle, dir, err)
	}
	st, err := c.ImportCatalog(ctx, bp.catalog)
	if err != nil {
		return err
	}
	res.Upstream = st.Upstream
	missing := map[chunks.Digest]bool{}
	for _, ie := range st.Entries {
		if ie.State != hangar.SyndicationImporting {
			continue
		}
		for _, e := range bp.entries {
			if e.URN != ie.URN {
				continue
			}
			for _, d := range e.Disks {
				r, err := c.ImportManifest(ctx, st.Upstream, d.Manifest, bp.manifests[d.Manifest])
				if err != nil {
					return err
				}
				for _, text := range r.Missing {
					dg, err := chunks.ParseDigest(text)
					if err != nil {
						return err
					}
					missing[dg] = true
				}
			}
		}
	}
	var todo []syndicate.BundleChunk
	for _, bc := range bp.index.Chunks {
		if missing[bc.Digest] {
			todo = append(todo, bc)
		}
	}
	for i, bc := range todo {
		data, err := readBounded(filepath.Join(dir, filepath.FromSlash(syndicate.ChunkPath(bc.Digest))), chunks.ChunkSize)
		if err != nil {
			return err
		}
		if err := c.ImportChunk(ctx, st.Upstream, bc.Digest, data); err != nil {
			return err
		}
		res.SentChunks++
		res.SentBytes += int64(len(data))
		if progress != nil {
			progress(dir, i+1, len(todo))
		}
	}
	res.Jobs, err = c.CommitImport(ctx, st.Upstream)
	return err
}
