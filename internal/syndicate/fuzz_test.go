package syndicate

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// FuzzCatalog feeds arbitrary bytes to the catalog parser and verifier, as an
// upstream or a bundle could: nothing may panic, and nothing unsigned may pass.
func FuzzCatalog(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := seed.Public().(ed25519.PublicKey)
	d, _ := DiskOf(-1, testManifest())
	s, _ := SignEntry(seed, Entry{URN: "a:b:c:1.0.0", Image: Image{Type: "os"}, Disks: []Disk{d}})
	c, _ := SignCatalog(seed, []Signed{s}, time.Unix(0, 0))
	good, _ := jsonOf(c)
	f.Add(good)
	f.Add([]byte(`{"catalog":{},"signature":"","key":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCatalog(data)
		if err != nil {
			return
		}
		VerifyCatalog(pub, c)
	})
}

// FuzzManifest feeds arbitrary bytes to CheckManifest against a disk that names them
// (so that decoding and validation run).
func FuzzManifest(f *testing.F) {
	raw, _ := EncodeManifest(testManifest())
	f.Add(raw)
	f.Add([]byte(`{"virtualSize":1,"extents":[{"offset":0,"length":1,"sha256":"00"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		d := Disk{LUN: -1, ManifestBytes: int64(len(data))}
		d.Manifest = sum(data)
		m, err := CheckManifest(d, data)
		if err == nil && m.Validate() != nil {
			t.Fatal("accepted an invalid manifest")
		}
	})
}

// FuzzIndex feeds arbitrary bytes to a bundle's index parser.
func FuzzIndex(f *testing.F) {
	f.Add([]byte(`{"format":"hangar-bundle/1","bundle":"b","part":1,"parts":2,"issuer":"SHA256:x","chunks":[{"sha256":"` +
		"0000000000000000000000000000000000000000000000000000000000000001" + `","size":4194304}]}`))
	f.Add([]byte(`{"format":"hangar-bundle/1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := ParseIndex(data)
		if err == nil && (ix.Part < 1 || ix.Part > ix.Parts) {
			t.Fatalf("accepted part %d of %d", ix.Part, ix.Parts)
		}
	})
}
