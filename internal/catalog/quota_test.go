package catalog

import (
	"bytes"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestAmplifiedCommitIsRefused is the quota-amplification attack: a tenant uploads
// one 4 MiB chunk and commits a disk of the largest virtual size that lists it at
// every offset. Stored once, it would be written out whole (4 TiB) by every
// materialization: as a VM's base, or for generalize. With the server's default
// limits the commit must be refused as over quota, and leave no disk behind.
func TestAmplifiedCommitIsRefused(t *testing.T) {
	s, admin := newService(t)
	ctx := t.Context()
	mallory := newTenant(t, s, admin, "mallory")
	size := int64(DefaultMaxVirtualSize)
	u, err := s.CreateUpload(ctx, mallory, hangar.UploadCreate{Name: "amplified", VirtualSize: size, SourceFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, chunks.ChunkSize)
	for i := range data {
		data[i] = byte(i%251) | 1
	}
	d := chunks.Sum(data)
	if err := s.PutChunk(ctx, mallory, u.ID, d, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	extents := make([]chunks.Extent, 0, size/chunks.ChunkSize)
	for off := int64(0); off < size; off += chunks.ChunkSize {
		extents = append(extents, chunks.Extent{Offset: off, Length: chunks.ChunkSize, Digest: d})
	}
	_, err = s.CommitUpload(ctx, mallory, u.ID, hangar.UploadCommit{Extents: extents})
	if hangar.ErrorCode(err) != hangar.Code("QuotaExceeded") {
		t.Fatalf("a commit of one chunk repeated over %d bytes: %v; want QuotaExceeded", size, err)
	}
	if disks, _ := s.ListDisks(ctx, mallory); len(disks) != 0 {
		t.Fatalf("the refused commit left disks: %+v", disks)
	}
}
