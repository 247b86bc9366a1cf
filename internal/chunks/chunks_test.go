package chunks

import (
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
