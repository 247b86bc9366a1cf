package syndicate

import (
	"fmt"
	"path"

	"github.com/hangarvm/hangar/internal/chunks"
)

// A bundle carries marketplace versions to an installation with no network path to
// the one that exported them. It is one directory, or several ("parts", one per
// medium), each laid out as:
//
//	catalog.json              the exporter's signed Catalog of the versions
//	manifests/SHA256          each disk's manifest, named by its SHA-256
//	chunks/SH/SHA256          the chunks this part carries, named by their SHA-256
//	index.json                Index: which part this is and what chunks it carries
//
// Every part carries the whole catalog and every manifest, so parts can be imported
// in any order. Trust rests on the catalog's signature (checked against the pinned
// key of an upstream), the manifests' digests in the signed entries and the chunks'
// digests in the manifests; the index is bookkeeping, checked against the files.

// BundleFormat names the layout above in every index.
const BundleFormat = "hangar-bundle/1"

// Names of a part's files.
const (
	CatalogFile = "catalog.json"
	IndexFile   = "index.json"
)

// MaxIndexBytes bounds an index's JSON: four million chunks (16 TiB) of about 100
// bytes each.
const MaxIndexBytes = 512 << 20

// BundleChunk is one chunk a part carries.
type BundleChunk struct {
	Digest chunks.Digest `json:"sha256"`
	Size   int64         `json:"size"`
}

// Index describes one part of a bundle.
type Index struct {
	Format string `json:"format"`
	// Bundle identifies the export all parts belong to.
	Bundle string `json:"bundle"`
	Part   int    `json:"part"`  // from 1
	Parts  int    `json:"parts"` // how many parts the bundle has
	Issuer string `json:"issuer"`
	// Chunks are the chunks this part carries.
	Chunks []BundleChunk `json:"chunks"`
	// Previous are the chunks the versions need that earlier bundles carried
	// (export --since): the importing installation must have them already.
	Previous []chunks.Digest `json:"previous,omitempty"`
}

// ParseIndex decodes and checks an index.
func ParseIndex(data []byte) (Index, error) {
	var ix Index
	if len(data) > MaxIndexBytes {
		return ix, fmt.Errorf("%w: an index of %d bytes is longer than %d", ErrInvalid, len(data), MaxIndexBytes)
	}
	if err := decodeStrict(data, &ix); err != nil {
		return ix, fmt.Errorf("%w: %s: %v", ErrInvalid, IndexFile, err)
	}
	switch {
	case ix.Format != BundleFormat:
		return ix, fmt.Errorf("%w: %s: format %q, want %q", ErrInvalid, IndexFile, clip(ix.Format), BundleFormat)
	case ix.Parts < 1 || ix.Parts > 10000 || ix.Part < 1 || ix.Part > ix.Parts:
		return ix, fmt.Errorf("%w: %s: part %d of %d", ErrInvalid, IndexFile, ix.Part, ix.Parts)
	case len(ix.Bundle) == 0 || len(ix.Bundle) > 64:
		return ix, fmt.Errorf("%w: %s: no bundle ID", ErrInvalid, IndexFile)
	}
	seen := make(map[chunks.Digest]bool, len(ix.Chunks))
	for i, c := range ix.Chunks {
		if c.Size <= 0 || c.Size > chunks.ChunkSize {
			return ix, fmt.Errorf("%w: %s: chunk %d has size %d", ErrInvalid, IndexFile, i, c.Size)
		}
		if seen[c.Digest] {
			return ix, fmt.Errorf("%w: %s: chunk %s is listed twice", ErrInvalid, IndexFile, c.Digest.Short())
		}
		seen[c.Digest] = true
	}
	return ix, nil
}

// ManifestPath is where a part keeps the manifest with digest d.
func ManifestPath(d chunks.Digest) string { return path.Join("manifests", d.String()) }

// ChunkPath is where a part keeps the chunk with digest d.
func ChunkPath(d chunks.Digest) string {
	s := d.String()
	return path.Join("chunks", s[:2], s)
}
