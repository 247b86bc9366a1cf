package diskbench

import (
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/hangarvm/hangar/internal/chunks"
)

// PickRegions places n non-overlapping regions totalling about total bytes at
// random 4 KiB-aligned offsets inside the data extents, no two in one chunk.
func PickRegions(exts []Extent, n int, total int64, seed uint64) ([]Extent, error) {
	const block = 4096
	length := total / int64(n) / block * block
	rng := rand.New(rand.NewPCG(seed, 0x7e6))
	var out []Extent
	used := map[int64]bool{} // chunks holding a region
	for tries := 0; len(out) < n; tries++ {
		if tries > 100000 {
			return nil, fmt.Errorf("cannot place %d regions of %d bytes", n, length)
		}
		e := exts[rng.IntN(len(exts))]
		if e.Length < length {
			continue
		}
		off := e.Offset + rng.Int64N((e.Length-length)/block+1)*block
		first, last := off/chunks.ChunkSize, (off+length-1)/chunks.ChunkSize
		if used[first] || used[last] {
			continue
		}
		used[first], used[last] = true, true
		out = append(out, Extent{Offset: off, Length: length})
	}
	slices.SortFunc(out, func(a, b Extent) int { return cmp.Compare(a.Offset, b.Offset) })
	return out, nil
}

// Rewrite writes new pseudo-random bytes over the regions and returns what was there.
func Rewrite(path string, regions []Extent, seed uint64) ([][]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src := Stream(seed)
	var saved [][]byte
	for _, r := range regions {
		old := make([]byte, r.Length)
		if _, err := f.ReadAt(old, r.Offset); err != nil {
			return nil, err
		}
		saved = append(saved, old)
		buf := make([]byte, r.Length)
		io.ReadFull(src, buf) //nolint:errcheck // never fails
		if _, err := f.WriteAt(buf, r.Offset); err != nil {
			return nil, err
		}
	}
	return saved, f.Sync()
}

// Restore puts the saved bytes back.
func Restore(path string, regions []Extent, saved [][]byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for i, r := range regions[:len(saved)] {
		if _, err := f.WriteAt(saved[i], r.Offset); err != nil {
			return err
		}
	}
	return f.Sync()
}
