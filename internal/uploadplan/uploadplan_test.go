package uploadplan

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/diskfmt"
)

const c = chunks.ChunkSize

func TestChunkOffsets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		exts  []diskfmt.Extent
		size  int64
		offs  []int64
		total int64
	}{
		{"empty", nil, 10 * c, nil, 0},
		{"one byte", []diskfmt.Extent{{Offset: c + 5, Length: 1}}, 10 * c, []int64{c}, c},
		{"across a boundary", []diskfmt.Extent{{Offset: c - 1, Length: 2}}, 10 * c, []int64{0, c}, 2 * c},
		{"two extents in one chunk, listed once", []diskfmt.Extent{{Offset: 0, Length: 10}, {Offset: 100, Length: 10}}, 10 * c, []int64{0}, c},
		{"an extent ending where the next chunk starts", []diskfmt.Extent{{Offset: 0, Length: c}, {Offset: 3 * c, Length: c}}, 10 * c, []int64{0, 3 * c}, 2 * c},
		{"short last chunk", []diskfmt.Extent{{Offset: 0, Length: c + 512}}, c + 512, []int64{0, c}, c + 512},
		{"whole disk", []diskfmt.Extent{{Offset: 0, Length: 3 * c}}, 3 * c, []int64{0, c, 2 * c}, 3 * c},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offs, total := ChunkOffsets(tc.exts, tc.size)
			if !slices.Equal(offs, tc.offs) || total != tc.total {
				t.Fatalf("ChunkOffsets = %v, %d; want %v, %d", offs, total, tc.offs, tc.total)
			}
		})
	}
}

// fakeDisk is a diskfmt.Disk of given extents.
type fakeDisk struct {
	size int64
	exts []diskfmt.Extent
}

func (d fakeDisk) ReadAt(p []byte, off int64) (int, error) { clear(p); return len(p), nil }
func (d fakeDisk) Format() diskfmt.Format                  { return diskfmt.QCOW2 }
func (d fakeDisk) VirtualSize() int64                      { return d.size }
func (d fakeDisk) Extents() []diskfmt.Extent               { return slices.Clone(d.exts) }

// The plan's JSON is what the browser's upload script reads: its names are fixed.
func TestPlanJSON(t *testing.T) {
	p := Of(fakeDisk{size: 2*c + 512, exts: []diskfmt.Extent{{Offset: 512, Length: 1024}, {Offset: 2 * c, Length: 512}}})
	got, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"format":"qcow2","virtualSize":8389120,"extents":[{"offset":512,"length":1024},{"offset":8388608,"length":512}],` +
		`"chunks":[0,8388608],"total":4194816}`
	if string(got) != want {
		t.Fatalf("plan JSON\n got %s\nwant %s", got, want)
	}
}
