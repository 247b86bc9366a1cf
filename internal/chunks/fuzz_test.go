package chunks

import (
	"encoding/json"
	"testing"
)

// FuzzManifest feeds untrusted manifest JSON (what a commit request carries) through
// decoding and validation: no panic, and a valid manifest holds only whole, aligned,
// ordered chunks inside the disk.
func FuzzManifest(f *testing.F) {
	d := Sum([]byte("x")).String()
	f.Add([]byte(`{"virtualSize":8388608,"extents":[{"offset":0,"length":4194304,"sha256":"` + d + `"}]}`))
	f.Add([]byte(`{"virtualSize":512,"extents":[{"offset":0,"length":512,"sha256":"` + d + `"}]}`))
	f.Add([]byte(`{"virtualSize":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Manifest
		if json.Unmarshal(data, &m) != nil || m.Validate() != nil {
			return
		}
		end := int64(0)
		for _, e := range m.Extents {
			if e.Offset < end || e.Offset%ChunkSize != 0 || e.Length <= 0 || e.Offset+e.Length > m.VirtualSize {
				t.Fatalf("Validate accepted a bad extent %+v in a %d-byte disk", e, m.VirtualSize)
			}
			end = e.Offset + e.Length
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add(Sum(nil).String())
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err == nil && d.String() != s {
			t.Fatalf("ParseDigest(%q) accepted a non-canonical digest", s)
		}
	})
}
