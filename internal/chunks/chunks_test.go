package chunks

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestParseDigest(t *testing.T) {
	good := Sum([]byte("x")).String()
	tests := []struct {
		in string
		ok bool
	}{
		{good, true},
		{strings.ToUpper(good), false},
		{good[:63], false},
		{good + "0", false},
		{"", false},
		{strings.Repeat("g", 64), false},
	}
	for _, tt := range tests {
		d, err := ParseDigest(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseDigest(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if tt.ok && d.String() != tt.in {
			t.Errorf("round trip: %s != %s", d, tt.in)
		}
	}
}

func TestManifestValidate(t *testing.T) {
	d := Sum([]byte("x"))
	size := int64(2*ChunkSize + 512)
	tests := []struct {
		name string
		m    Manifest
		ok   bool
	}{
		{"empty disk", Manifest{VirtualSize: size}, true},
		{"all chunks", Manifest{size, []Extent{{0, ChunkSize, d}, {ChunkSize, ChunkSize, d}, {2 * ChunkSize, 512, d}}}, true},
		{"zero size", Manifest{VirtualSize: 0}, false},
		{"unaligned", Manifest{size, []Extent{{512, ChunkSize, d}}}, false},
		{"short middle", Manifest{size, []Extent{{0, 512, d}}}, false},
		{"out of order", Manifest{size, []Extent{{ChunkSize, ChunkSize, d}, {0, ChunkSize, d}}}, false},
		{"repeated", Manifest{size, []Extent{{0, ChunkSize, d}, {0, ChunkSize, d}}}, false},
		{"beyond end", Manifest{size, []Extent{{3 * ChunkSize, 512, d}}}, false},
		{"no digest", Manifest{size, []Extent{{0, ChunkSize, Digest{}}}}, false},
	}
	for _, tt := range tests {
		if err := tt.m.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestIsZero(t *testing.T) {
	b := make([]byte, ChunkSize)
	if !IsZero(b) || !IsZero(b[:100]) || !IsZero(nil) {
		t.Fatal("zeros not recognised")
	}
	b[ChunkSize-1] = 1
	if IsZero(b) {
		t.Fatal("last byte non-zero not seen")
	}
	b[ChunkSize-1] = 0
	b[5000] = 1
	if IsZero(b) {
		t.Fatal("middle byte non-zero not seen")
	}
}

func TestWalk(t *testing.T) {
	size := int64(3*ChunkSize + 1024)
	disk := make([]byte, size)
	disk[10] = 1               // chunk 0
	disk[2*ChunkSize+5] = 2    // chunk 2
	disk[3*ChunkSize+1000] = 3 // chunk 3 (short)
	disk[ChunkSize+7] = 4      // chunk 1, but outside the allocated spans: never read
	spans := []Span{{0, 100}, {2*ChunkSize - 10, 20}, {2*ChunkSize + 100, 10}, {3 * ChunkSize, 1024}}
	var got []int64
	var lens []int
	err := Walk(t.Context(), bytes.NewReader(disk), size, spans, func(off int64, data []byte) error {
		got = append(got, off)
		lens = append(lens, len(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The second span crosses into chunk 1, so chunk 1 is read whole and reported.
	want := []int64{0, ChunkSize, 2 * ChunkSize, 3 * ChunkSize}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Walk visited %v, want %v", got, want)
	}
	if lens[3] != 1024 {
		t.Fatalf("last chunk length %d, want 1024", lens[3])
	}
	if err := Walk(t.Context(), bytes.NewReader(disk), size, []Span{{size - 10, 20}}, func(int64, []byte) error { return nil }); err == nil {
		t.Fatal("Walk accepted a span beyond the disk")
	}
}
