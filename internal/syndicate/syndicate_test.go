package syndicate

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

func testKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(NewPrivateKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testManifest() chunks.Manifest {
	return chunks.Manifest{VirtualSize: 8 << 20, Extents: []chunks.Extent{
		{Offset: 0, Length: chunks.ChunkSize, Digest: chunks.Sum([]byte("a"))},
		{Offset: chunks.ChunkSize, Length: chunks.ChunkSize, Digest: chunks.Sum([]byte("b"))},
	}}
}

func testEntry(t *testing.T) Entry {
	d, err := DiskOf(-1, testManifest())
	if err != nil {
		t.Fatal(err)
	}
	return Entry{URN: "Contoso:Web:2024:1.0.0", Plan: "gold", Entitlement: "msdn", Image: Image{Type: "os", OSType: "linux", OSState: "generalized"},
		Disks: []Disk{d}, SignedAt: time.Unix(1700000000, 0).UTC()}
}

func TestKeys(t *testing.T) {
	k := testKey(t)
	pub := k.Public().(ed25519.PublicKey)
	text := FormatPublicKey(pub)
	back, err := ParsePublicKey(text)
	if err != nil || !back.Equal(pub) {
		t.Fatalf("public key %q did not round-trip: %v", text, err)
	}
	if fp := Fingerprint(pub); !strings.HasPrefix(fp, "SHA256:") || len(fp) != 7+43 {
		t.Fatalf("fingerprint %q", fp)
	}
	for _, bad := range []string{"", "ed25519:", "ed25519:AAAA", "rsa:" + text[8:], text + "AA"} {
		if _, err := ParsePublicKey(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParsePublicKey(%q) = %v, want ErrBadKey", bad, err)
		}
	}
	if _, err := ParsePrivateKey("nope"); !errors.Is(err, ErrBadKey) {
		t.Errorf("ParsePrivateKey: %v", err)
	}
}

func TestSignVerify(t *testing.T) {
	k := testKey(t)
	pub := k.Public().(ed25519.PublicKey)
	e := testEntry(t)
	s, err := SignEntry(k, e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyEntry(pub, s)
	if err != nil || got.URN != e.URN || got.Disks[0] != e.Disks[0] {
		t.Fatalf("VerifyEntry = %+v, %v", got, err)
	}
	// One changed byte, another key, a catalog signature passed off as an entry's.
	tampered := s
	tampered.Entry = []byte(strings.Replace(string(s.Entry), `"gold"`, `"free"`, 1))
	if _, err := VerifyEntry(pub, tampered); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered entry: %v", err)
	}
	other := testKey(t)
	if _, err := VerifyEntry(other.Public().(ed25519.PublicKey), s); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other key: %v", err)
	}
	c, err := SignCatalog(k, []Signed{s}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyEntry(pub, Signed{Entry: c.Body, Signature: c.Signature, Key: c.Key}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a catalog signature verified as an entry's: %v", err)
	}
	body, entries, err := VerifyCatalog(pub, c)
	if err != nil || len(entries) != 1 || body.Issuer != Fingerprint(pub) {
		t.Fatalf("VerifyCatalog = %+v %v", entries, err)
	}
	dup, _ := SignCatalog(k, []Signed{s, s}, time.Now())
	if _, _, err := VerifyCatalog(pub, dup); !errors.Is(err, ErrInvalid) {
		t.Errorf("a catalog listing one URN twice: %v", err)
	}
	c.Signature[0] ^= 1
	if _, _, err := VerifyCatalog(pub, c); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered catalog signature: %v", err)
	}
}

func TestCheckManifest(t *testing.T) {
	m := testManifest()
	d, _ := DiskOf(-1, m)
	raw, _ := EncodeManifest(m)
	if got, err := CheckManifest(d, raw); err != nil || len(got.Extents) != 2 {
		t.Fatalf("CheckManifest = %+v, %v", got, err)
	}
	m.Extents[1].Digest = chunks.Sum([]byte("c"))
	other, _ := EncodeManifest(m)
	if _, err := CheckManifest(d, other); !errors.Is(err, ErrInvalid) {
		t.Errorf("another manifest passed: %v", err)
	}
	if _, err := CheckManifest(d, raw[:len(raw)-1]); !errors.Is(err, ErrInvalid) {
		t.Errorf("a truncated manifest passed: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for name, change := range map[string]func(*Entry){
		"latest":     func(e *Entry) { e.URN = "a:b:c:latest" },
		"no disks":   func(e *Entry) { e.Disks = nil },
		"no OS disk": func(e *Entry) { e.Disks[0].LUN = 0 },
		"two LUNs":   func(e *Entry) { e.Disks = append(e.Disks, e.Disks[0]) },
		"bad plan":   func(e *Entry) { e.Plan = "a b" },
		"sizes":      func(e *Entry) { e.Disks[0].StoredBytes = e.Disks[0].VirtualSize + 1 },
		"huge":       func(e *Entry) { e.Disks[0].ManifestBytes = MaxManifestBytes + 1 },
	} {
		e := testEntry(t)
		change(&e)
		if err := e.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

func TestPattern(t *testing.T) {
	urn := func(s string) hangar.URN {
		u, err := hangar.ParseURN(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, c := range []struct {
		pattern, urn string
		want         bool
	}{
		{"Contoso:Web", "contoso:web:2024:1.0.0", true},
		{"Contoso:Web", "Contoso:Other:2024:1.0.0", false},
		{"Contoso:Web:2024", "Contoso:Web:2025:1.0.0", false},
		{"Contoso:Web:2024:1.0.0", "Contoso:Web:2024:1.0.0", true},
		{"Contoso:Web:2024:1.0.0", "Contoso:Web:2024:1.0.1", false},
	} {
		p, err := ParsePattern(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Matches(urn(c.urn)); got != c.want {
			t.Errorf("%s matches %s = %v", c.pattern, c.urn, got)
		}
	}
	for _, bad := range []string{"Contoso", "a:b:c:d:e", "a:b:c:latest", "a b:c"} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q) accepted it", bad)
		}
	}
}

func TestParseIndex(t *testing.T) {
	d := chunks.Sum([]byte("a")).String()
	good := `{"format":"hangar-bundle/1","bundle":"b1","part":1,"parts":2,"issuer":"SHA256:x","chunks":[{"sha256":"` + d + `","size":10}]}`
	if ix, err := ParseIndex([]byte(good)); err != nil || ix.Parts != 2 || len(ix.Chunks) != 1 {
		t.Fatalf("ParseIndex = %+v, %v", ix, err)
	}
	for name, bad := range map[string]string{
		"truncated":    good[:len(good)-3],
		"part 3 of 2":  strings.Replace(good, `"part":1`, `"part":3`, 1),
		"other format": strings.Replace(good, "hangar-bundle/1", "hangar-bundle/9", 1),
		"twice":        strings.Replace(good, `}]}`, `},{"sha256":"`+d+`","size":10}]}`, 1),
		"huge chunk":   strings.Replace(good, `"size":10`, `"size":99999999`, 1),
		"unknown":      strings.Replace(good, `"issuer"`, `"extra":1,"issuer"`, 1),
	} {
		if _, err := ParseIndex([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: ParseIndex = %v", name, err)
		}
	}
}
