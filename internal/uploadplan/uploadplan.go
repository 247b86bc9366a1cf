// Package uploadplan says which chunks of an opened disk an upload reads: the
// chunks that overlap the disk's allocated extents, in offset order. The CLI
// (package client) and the browser (cmd/diskfmt-wasm, package diskfmt built for
// WebAssembly) both take their chunks from here, so that a file uploaded either way
// is read in the same chunks and committed as the same manifest.
//
// Invariants: chunks are ChunkSize-aligned offsets of the virtual disk, strictly
// increasing, each listed once; every byte of every extent lies in a listed chunk;
// the bytes outside them read as zeros and are never read at all.
package uploadplan

import (
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/diskfmt"
)

// Extent is an allocated range of the virtual disk, in bytes.
type Extent struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// Plan is what an upload of one opened disk reads.
type Plan struct {
	Format      diskfmt.Format `json:"format"`
	VirtualSize int64          `json:"virtualSize"`
	Extents     []Extent       `json:"extents"`
	// Chunks are the offsets of the chunks to read (each chunks.ChunkLen long).
	Chunks []int64 `json:"chunks"`
	// Total is the bytes those chunks cover.
	Total int64 `json:"total"`
}

// Of returns the plan of an opened disk.
func Of(d diskfmt.Disk) Plan {
	exts := d.Extents()
	p := Plan{Format: d.Format(), VirtualSize: d.VirtualSize(), Extents: make([]Extent, len(exts))}
	for i, e := range exts {
		p.Extents[i] = Extent{Offset: e.Offset, Length: e.Length}
	}
	p.Chunks, p.Total = ChunkOffsets(exts, p.VirtualSize)
	return p
}

// ChunkOffsets lists the offsets of the chunks of a disk of size bytes that
// overlap exts (sorted and non-overlapping, as diskfmt.Disk.Extents returns them),
// in order, and the bytes those chunks cover.
func ChunkOffsets(exts []diskfmt.Extent, size int64) ([]int64, int64) {
	var offs []int64
	var total int64
	next := int64(0) // first chunk offset not yet listed
	for _, e := range exts {
		first := max(e.Offset/chunks.ChunkSize*chunks.ChunkSize, next)
		for off := first; off < e.Offset+e.Length && off < size; off += chunks.ChunkSize {
			offs = append(offs, off)
			total += chunks.ChunkLen(off, size)
			next = off + chunks.ChunkSize
		}
	}
	return offs, total
}
