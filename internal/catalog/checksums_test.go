package catalog

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
)

// TestDiskChecksums: the sums of a stored disk are those of its raw bytes (holes
// read as zeros, a short last chunk) and of those bytes followed by the VHD
// footer, computed here over the whole bytes at once.
func TestDiskChecksums(t *testing.T) {
	backend, err := dirstore.Open(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	cs := &chunks.Store{Backend: backend}
	footer := vhdFooterFor("disk-id", time.Unix(1700000000, 0), 0)
	for _, tc := range []struct {
		name string
		size int64
		data map[int64]byte // chunk offset -> fill byte; other chunks are holes
	}{
		{"empty", 0, nil},
		{"all holes", 3 * chunks.ChunkSize, nil},
		{"dense", 2 * chunks.ChunkSize, map[int64]byte{0: 1, chunks.ChunkSize: 2}},
		{"hole then data", 3 * chunks.ChunkSize, map[int64]byte{2 * chunks.ChunkSize: 7}},
		{"short last chunk", 2*chunks.ChunkSize + 512, map[int64]byte{0: 3, 2 * chunks.ChunkSize: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := make([]byte, tc.size)
			m := chunks.Manifest{VirtualSize: tc.size}
			for off := int64(0); off < tc.size; off += chunks.ChunkSize {
				fill, ok := tc.data[off]
				if !ok {
					continue
				}
				n := chunks.ChunkLen(off, tc.size)
				piece := bytes.Repeat([]byte{fill}, int(n))
				copy(raw[off:], piece)
				dg := chunks.Sum(piece)
				if err := cs.Put(t.Context(), dg, piece); err != nil {
					t.Fatal(err)
				}
				m.Extents = append(m.Extents, chunks.Extent{Offset: off, Length: n, Digest: dg})
			}
			sums, err := DiskChecksums(t.Context(), cs, m, footer, func() error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			sha, md := sha256.Sum256(raw), md5.Sum(raw)
			vhd := append(raw, footer[:]...)
			vsha, vmd := sha256.Sum256(vhd), md5.Sum(vhd)
			if sums.SHA256 != hex.EncodeToString(sha[:]) || sums.MD5 != hex.EncodeToString(md[:]) ||
				sums.VHDSHA256 != hex.EncodeToString(vsha[:]) || sums.VHDMD5 != hex.EncodeToString(vmd[:]) {
				t.Fatalf("got %+v", sums)
			}
		})
	}
}
