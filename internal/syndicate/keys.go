package syndicate

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrBadKey is wrapped by every error parsing a key.
var ErrBadKey = errors.New("invalid signing key")

// publicPrefix starts every public key's text form.
const publicPrefix = "ed25519:"

// NewPrivateKey returns a new signing key in its text form (base64 of the seed), as
// kept in the database.
func NewPrivateKey() string {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.StdEncoding.EncodeToString(seed)
}

// ParsePrivateKey parses the text form NewPrivateKey returns.
func ParsePrivateKey(text string) (ed25519.PrivateKey, error) {
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: the private key is not %d base64 bytes", ErrBadKey, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// FormatPublicKey returns the text form of a public key: "ed25519:" + base64.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return publicPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey parses FormatPublicKey's text form.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, publicPrefix) {
		return nil, fmt.Errorf("%w: a public key starts with %q (hangar admin signing-key shows it)", ErrBadKey, publicPrefix)
	}
	raw, err := base64.StdEncoding.DecodeString(text[len(publicPrefix):])
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: the public key is not %d base64 bytes after %q", ErrBadKey, ed25519.PublicKeySize, publicPrefix)
	}
	return ed25519.PublicKey(raw), nil
}

// Fingerprint returns "SHA256:" + unpadded base64 of the key's SHA-256.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}
