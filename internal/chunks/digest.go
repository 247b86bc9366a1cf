package chunks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Digest is the SHA-256 of a chunk's bytes. It is a value type usable as a map key.
type Digest [sha256.Size]byte

// Sum returns the digest of data.
func Sum(data []byte) Digest { return sha256.Sum256(data) }

// ErrInvalidDigest is wrapped by every digest parse error.
var ErrInvalidDigest = errors.New("invalid chunk digest")

// ParseDigest parses 64 lower-case hex digits.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("%w: %q is not 64 hex digits", ErrInvalidDigest, truncate(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return d, fmt.Errorf("%w: %q is not lower-case hex", ErrInvalidDigest, truncate(s))
		}
	}
	hex.Decode(d[:], []byte(s)) //nolint:errcheck // validated above
	return d, nil
}

func truncate(s string) string {
	if len(s) > 70 {
		return s[:70] + "..."
	}
	return s
}

func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Short is the first 12 hex digits, for messages.
func (d Digest) Short() string { return d.String()[:12] }

// IsZero reports whether d is the zero value (no digest, not the digest of zeros).
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText implements encoding.TextMarshaler.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, strictly.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}
