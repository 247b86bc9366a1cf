package syndicate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// Bounds on what a subscriber reads from an upstream or a bundle before it has
// checked it: they keep a lying peer from making it allocate without limit.
const (
	// MaxEntryBytes bounds one entry's JSON.
	MaxEntryBytes = 64 << 10
	// MaxCatalogBytes bounds a whole catalog's JSON.
	MaxCatalogBytes = 64 << 20
	// MaxManifestBytes bounds one manifest's JSON: a 4 TiB disk has a million
	// chunks of about 150 bytes of JSON each.
	MaxManifestBytes = 256 << 20
	// MaxDisks bounds the disks of one entry (an OS disk and 64 data disks).
	MaxDisks = 65
)

// ErrBadSignature says a signature does not verify with the pinned key.
var ErrBadSignature = errors.New("signature does not verify with the upstream's public key")

// ErrInvalid is wrapped by every error about a malformed entry, catalog or manifest.
var ErrInvalid = errors.New("invalid syndication data")

// Image is the definition of the image behind an entry.
type Image struct {
	Type              hangar.ImageType         `json:"type"`
	OSType            hangar.OSType            `json:"osType"`
	OSState           hangar.OSState           `json:"osState"`
	HyperVGeneration  string                   `json:"hyperVGeneration"`
	Architecture      string                   `json:"architecture"`
	ProvisioningAgent hangar.ProvisioningAgent `json:"provisioningAgent"`
	Description       string                   `json:"description,omitempty"`
	EULA              string                   `json:"eula,omitempty"`
}

// Disk is one disk of an entry: LUN -1 is the OS disk. Manifest is the SHA-256 of
// the disk's manifest as served (ManifestBytes bytes of JSON).
type Disk struct {
	LUN           int           `json:"lun"`
	VirtualSize   int64         `json:"virtualSize"`
	StoredBytes   int64         `json:"storedBytes"`
	Chunks        int           `json:"chunks"`
	Manifest      chunks.Digest `json:"manifestSha256"`
	ManifestBytes int64         `json:"manifestBytes"`
}

// Entry is one marketplace version as it leaves an installation.
type Entry struct {
	URN               string    `json:"urn"`
	Plan              string    `json:"plan,omitempty"`
	Entitlement       string    `json:"entitlement,omitempty"`
	ExcludeFromLatest bool      `json:"excludeFromLatest"`
	EndOfLife         string    `json:"endOfLife,omitempty"`
	Image             Image     `json:"image"`
	Disks             []Disk    `json:"disks"`
	SignedAt          time.Time `json:"signedAt"`
}

// Signed is an entry's JSON with its signature and the signer's fingerprint. The
// JSON travels as base64, so that no re-encoding on the way (indenting, escaping)
// can change the bytes the signature covers.
type Signed struct {
	Entry     []byte `json:"entry"`
	Signature []byte `json:"signature"`
	Key       string `json:"key"`
}

// CatalogBody is what a catalog's signature covers.
type CatalogBody struct {
	Issuer   string    `json:"issuer"` // the signer's fingerprint
	IssuedAt time.Time `json:"issuedAt"`
	Entries  []Signed  `json:"entries"`
}

// Catalog is a signed CatalogBody (its JSON as base64, like Signed's).
type Catalog struct {
	Body      []byte `json:"catalog"`
	Signature []byte `json:"signature"`
	Key       string `json:"key"`
}

// Contexts make an entry's signature unusable as a catalog's, and the reverse.
const (
	entryContext   = "hangar syndication entry v1\n"
	catalogContext = "hangar syndication catalog v1\n"
)

func message(context string, body []byte) []byte {
	return append([]byte(context), body...)
}

// SignEntry signs an entry with key.
func SignEntry(key ed25519.PrivateKey, e Entry) (Signed, error) {
	if err := e.Validate(); err != nil {
		return Signed{}, err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return Signed{}, err
	}
	return Signed{Entry: raw, Signature: ed25519.Sign(key, message(entryContext, raw)), Key: Fingerprint(key.Public().(ed25519.PublicKey))}, nil
}

// VerifyEntry checks s's signature with pub, then decodes and validates the entry.
func VerifyEntry(pub ed25519.PublicKey, s Signed) (Entry, error) {
	var e Entry
	if len(s.Entry) > MaxEntryBytes {
		return e, fmt.Errorf("%w: an entry of %d bytes is longer than %d", ErrInvalid, len(s.Entry), MaxEntryBytes)
	}
	if want := Fingerprint(pub); s.Key != want {
		return e, fmt.Errorf("%w: entry signed by key %q, the upstream's pinned key is %s", ErrBadSignature, clip(s.Key), want)
	}
	if !ed25519.Verify(pub, message(entryContext, s.Entry), s.Signature) {
		return e, fmt.Errorf("%w: catalog entry", ErrBadSignature)
	}
	if err := decodeStrict(s.Entry, &e); err != nil {
		return e, fmt.Errorf("%w: signed entry: %v", ErrInvalid, err)
	}
	return e, e.Validate()
}

// SignCatalog signs a list of signed entries as one catalog issued at now.
func SignCatalog(key ed25519.PrivateKey, entries []Signed, now time.Time) (Catalog, error) {
	if entries == nil {
		entries = []Signed{}
	}
	fp := Fingerprint(key.Public().(ed25519.PublicKey))
	raw, err := json.Marshal(CatalogBody{Issuer: fp, IssuedAt: now.UTC(), Entries: entries})
	if err != nil {
		return Catalog{}, err
	}
	return Catalog{Body: raw, Signature: ed25519.Sign(key, message(catalogContext, raw)), Key: fp}, nil
}

// VerifyCatalog checks the catalog's signature and every entry's, and returns the
// entries in order with their signed forms. Two entries with one URN are refused.
func VerifyCatalog(pub ed25519.PublicKey, c Catalog) (CatalogBody, []Entry, error) {
	var body CatalogBody
	if want := Fingerprint(pub); c.Key != want {
		return body, nil, fmt.Errorf("%w: catalog signed by key %q, the upstream's pinned key is %s", ErrBadSignature, clip(c.Key), want)
	}
	if len(c.Body) > MaxCatalogBytes {
		return body, nil, fmt.Errorf("%w: a catalog of %d bytes is longer than %d", ErrInvalid, len(c.Body), MaxCatalogBytes)
	}
	if !ed25519.Verify(pub, message(catalogContext, c.Body), c.Signature) {
		return body, nil, fmt.Errorf("%w: catalog", ErrBadSignature)
	}
	if err := decodeStrict(c.Body, &body); err != nil {
		return body, nil, fmt.Errorf("%w: signed catalog: %v", ErrInvalid, err)
	}
	entries := make([]Entry, 0, len(body.Entries))
	seen := map[string]bool{}
	for i, s := range body.Entries {
		e, err := VerifyEntry(pub, s)
		if err != nil {
			return body, nil, fmt.Errorf("catalog entry %d: %w", i, err)
		}
		key := lowerURN(e.URN)
		if seen[key] {
			return body, nil, fmt.Errorf("%w: catalog lists %s twice", ErrInvalid, e.URN)
		}
		seen[key] = true
		entries = append(entries, e)
	}
	return body, entries, nil
}

// ParseCatalog decodes a catalog document of at most MaxCatalogBytes (as sent by an
// upstream, or a bundle's catalog.json); VerifyCatalog checks it.
func ParseCatalog(data []byte) (Catalog, error) {
	var c Catalog
	if len(data) > MaxCatalogBytes+4096 {
		return c, fmt.Errorf("%w: a catalog of %d bytes is too long", ErrInvalid, len(data))
	}
	if err := decodeStrict(data, &c); err != nil {
		return c, fmt.Errorf("%w: catalog: %v", ErrInvalid, err)
	}
	return c, nil
}

// Validate checks an entry's shape: an exact URN, valid names, one OS disk and
// bounded, consistent disks.
func (e *Entry) Validate() error {
	urn, err := hangar.ParseURN(e.URN)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if urn.Version == nil {
		return fmt.Errorf("%w: entry %s names no exact version", ErrInvalid, e.URN)
	}
	for _, f := range []struct{ kind, v string }{{"plan", e.Plan}, {"entitlement", e.Entitlement}} {
		if f.v != "" {
			if err := hangar.ValidateName(f.kind, f.v); err != nil {
				return fmt.Errorf("%w: entry %s: %v", ErrInvalid, e.URN, err)
			}
		}
	}
	if len(e.Image.Description) > 4096 || len(e.Image.EULA) > 4096 || len(e.EndOfLife) > 64 ||
		len(e.Image.HyperVGeneration) > 16 || len(e.Image.Architecture) > 32 {
		return fmt.Errorf("%w: entry %s: a text field is too long", ErrInvalid, e.URN)
	}
	if len(e.Disks) == 0 || len(e.Disks) > MaxDisks {
		return fmt.Errorf("%w: entry %s has %d disks; want 1 to %d", ErrInvalid, e.URN, len(e.Disks), MaxDisks)
	}
	luns := map[int]bool{}
	for _, d := range e.Disks {
		switch {
		case luns[d.LUN]:
			return fmt.Errorf("%w: entry %s names LUN %d twice", ErrInvalid, e.URN, d.LUN)
		case d.LUN < -1 || d.LUN > 63:
			return fmt.Errorf("%w: entry %s: LUN %d is out of range", ErrInvalid, e.URN, d.LUN)
		case d.VirtualSize <= 0 || d.StoredBytes < 0 || d.StoredBytes > d.VirtualSize || d.Chunks < 0:
			return fmt.Errorf("%w: entry %s: disk at LUN %d has inconsistent sizes", ErrInvalid, e.URN, d.LUN)
		case d.ManifestBytes <= 0 || d.ManifestBytes > MaxManifestBytes:
			return fmt.Errorf("%w: entry %s: disk at LUN %d has a manifest of %d bytes", ErrInvalid, e.URN, d.LUN, d.ManifestBytes)
		case d.Manifest.IsZero():
			return fmt.Errorf("%w: entry %s: disk at LUN %d names no manifest digest", ErrInvalid, e.URN, d.LUN)
		}
		luns[d.LUN] = true
	}
	if !luns[-1] {
		return fmt.Errorf("%w: entry %s has no OS disk (LUN -1)", ErrInvalid, e.URN)
	}
	return nil
}

// EncodeManifest returns the bytes a manifest is served and hashed as.
func EncodeManifest(m chunks.Manifest) ([]byte, error) {
	if m.Extents == nil {
		m.Extents = []chunks.Extent{}
	}
	return json.Marshal(m)
}

// DiskOf describes a manifest as an entry's disk at lun.
func DiskOf(lun int, m chunks.Manifest) (Disk, error) {
	raw, err := EncodeManifest(m)
	if err != nil {
		return Disk{}, err
	}
	return Disk{LUN: lun, VirtualSize: m.VirtualSize, StoredBytes: m.StoredBytes(), Chunks: len(m.Extents),
		Manifest: sha256.Sum256(raw), ManifestBytes: int64(len(raw))}, nil
}

// CheckManifest accepts a manifest's bytes only if they are the ones d names, then
// decodes and validates them against d's sizes.
func CheckManifest(d Disk, data []byte) (chunks.Manifest, error) {
	var m chunks.Manifest
	if int64(len(data)) != d.ManifestBytes {
		return m, fmt.Errorf("%w: manifest of LUN %d has %d bytes, the signed entry says %d", ErrInvalid, d.LUN, len(data), d.ManifestBytes)
	}
	if chunks.Digest(sha256.Sum256(data)) != d.Manifest {
		return m, fmt.Errorf("%w: manifest of LUN %d does not match the signed entry's digest", ErrInvalid, d.LUN)
	}
	if err := decodeStrict(data, &m); err != nil {
		return m, fmt.Errorf("%w: manifest of LUN %d: %v", ErrInvalid, d.LUN, err)
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%w: manifest of LUN %d: %v", ErrInvalid, d.LUN, err)
	}
	if m.VirtualSize != d.VirtualSize || m.StoredBytes() != d.StoredBytes || len(m.Extents) != d.Chunks {
		return m, fmt.Errorf("%w: manifest of LUN %d disagrees with the signed entry's sizes", ErrInvalid, d.LUN)
	}
	return m, nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func lowerURN(s string) string { return string(bytes.ToLower([]byte(s))) }

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// DecodeCatalog decodes a catalog and its entries without checking signatures: for
// the exporter, and for an importer's checks of a bundle's files before the
// installation that pins the key checks the signatures.
func DecodeCatalog(c Catalog) (CatalogBody, []Entry, error) {
	var body CatalogBody
	if len(c.Body) > MaxCatalogBytes {
		return body, nil, fmt.Errorf("%w: a catalog of %d bytes is longer than %d", ErrInvalid, len(c.Body), MaxCatalogBytes)
	}
	if err := decodeStrict(c.Body, &body); err != nil {
		return body, nil, fmt.Errorf("%w: catalog: %v", ErrInvalid, err)
	}
	entries := make([]Entry, 0, len(body.Entries))
	for i, s := range body.Entries {
		var e Entry
		if len(s.Entry) > MaxEntryBytes {
			return body, nil, fmt.Errorf("%w: catalog entry %d is too long", ErrInvalid, i)
		}
		if err := decodeStrict(s.Entry, &e); err != nil {
			return body, nil, fmt.Errorf("%w: catalog entry %d: %v", ErrInvalid, i, err)
		}
		if err := e.Validate(); err != nil {
			return body, nil, fmt.Errorf("catalog entry %d: %w", i, err)
		}
		entries = append(entries, e)
	}
	return body, entries, nil
}

// BundleID names the bundle a catalog was exported in: the first 16 bytes of the
// SHA-256 of its signed body, in hex. Every part's index carries it.
func BundleID(c Catalog) string {
	sum := sha256.Sum256(c.Body)
	return fmt.Sprintf("%x", sum[:16])
}
