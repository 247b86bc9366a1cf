package shacrypt

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	// Prefix starts every SHA-512-crypt hash.
	Prefix = "$6$"
	// DefaultRounds is the number of rounds when none is given.
	DefaultRounds = 5000
	// MinRounds and MaxRounds bound the rounds; values outside are clamped.
	MinRounds = 1000
	MaxRounds = 999999999
	// MaxSaltLen is the number of salt characters that count; the rest is dropped.
	MaxSaltLen = 16

	roundsPrefix = "rounds="
	digestLen    = 86
	// alphabet is crypt's base-64 alphabet, in crypt's order.
	alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ErrInvalidHash reports a string that is not a SHA-512-crypt hash.
var ErrInvalidHash = errors.New("shacrypt: not a sha-512-crypt hash")

// Hash returns the SHA-512-crypt hash of password with the given salt and rounds, the
// same string glibc's crypt(3) returns for the setting "$6$rounds=ROUNDS$SALT".
// rounds 0 means the default 5000 and leaves "rounds=" out of the result; other values
// are clamped to [MinRounds, MaxRounds] and written. A salt longer than 16 characters
// is cut to 16; an empty salt, or one holding '$', ':', a newline or NUL, is refused.
func Hash(password, salt string, rounds int) (string, error) {
	if salt == "" {
		return "", errors.New("shacrypt: salt is empty")
	}
	if i := strings.IndexAny(salt, "$:\n\x00"); i >= 0 {
		return "", fmt.Errorf("shacrypt: salt may not contain %q", salt[i])
	}
	if rounds < 0 {
		return "", fmt.Errorf("shacrypt: rounds %d is negative", rounds)
	}
	custom := rounds != 0 && rounds != DefaultRounds
	if rounds == 0 {
		rounds = DefaultRounds
	}
	return compute(password, salt, clampRounds(rounds), custom), nil
}

// NewHash hashes password with a fresh random 16-character salt and the default rounds.
func NewHash(password string) (string, error) {
	salt, err := NewSalt()
	if err != nil {
		return "", err
	}
	return Hash(password, salt, 0)
}

// NewSalt returns 16 random characters of the crypt alphabet.
func NewSalt() (string, error) {
	var b [MaxSaltLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("shacrypt: reading random salt: %w", err)
	}
	for i := range b {
		b[i] = alphabet[b[i]&0x3f] // 256 is a multiple of 64: no bias
	}
	return string(b[:]), nil
}

// Verify reports whether hash is a well-formed SHA-512-crypt hash of password.
func Verify(hash, password string) bool {
	p, err := parse(hash)
	if err != nil {
		return false
	}
	got := compute(password, p.salt, p.rounds, p.custom)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

// parsed is the setting part of a hash.
type parsed struct {
	salt   string
	rounds int
	custom bool // "rounds=" was written
	digest string
}

// parse splits "$6$[rounds=N$]SALT$DIGEST". It accepts what crypt(3) writes: a salt
// of at most 16 characters and a digest of exactly 86 alphabet characters.
func parse(hash string) (parsed, error) {
	rest, ok := strings.CutPrefix(hash, Prefix)
	if !ok {
		return parsed{}, fmt.Errorf("%w: missing %q prefix", ErrInvalidHash, Prefix)
	}
	p := parsed{rounds: DefaultRounds}
	if r, ok := strings.CutPrefix(rest, roundsPrefix); ok {
		num, after, found := strings.Cut(r, "$")
		if !found {
			return parsed{}, fmt.Errorf("%w: rounds not ended by '$'", ErrInvalidHash)
		}
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || n < MinRounds || n > MaxRounds || strconv.FormatUint(n, 10) != num {
			return parsed{}, fmt.Errorf("%w: rounds %q out of range", ErrInvalidHash, num)
		}
		p.rounds, p.custom, rest = int(n), true, after
	}
	salt, digest, found := strings.Cut(rest, "$")
	if !found {
		return parsed{}, fmt.Errorf("%w: salt not ended by '$'", ErrInvalidHash)
	}
	if len(salt) > MaxSaltLen || strings.ContainsAny(salt, ":\n\x00") {
		return parsed{}, fmt.Errorf("%w: bad salt", ErrInvalidHash)
	}
	if len(digest) != digestLen || strings.Trim(digest, alphabet) != "" {
		return parsed{}, fmt.Errorf("%w: digest is not %d crypt characters", ErrInvalidHash, digestLen)
	}
	p.salt, p.digest = salt, digest
	return p, nil
}

func clampRounds(n int) int {
	return min(max(n, MinRounds), MaxRounds)
}

// compute returns the hash string: the digest of step 21 written as step 22 says.
func compute(password, salt string, rounds int, custom bool) string {
	if len(salt) > MaxSaltLen {
		salt = salt[:MaxSaltLen]
	}
	var out strings.Builder
	out.WriteString(Prefix)
	if custom {
		out.WriteString(roundsPrefix)
		out.WriteString(strconv.Itoa(rounds))
		out.WriteByte('$')
	}
	out.WriteString(salt)
	out.WriteByte('$')
	out.WriteString(encode(digest([]byte(password), []byte(salt), rounds)))
	return out.String()
}

// digest is the algorithm of Drepper's specification, steps numbered as there.
func digest(pw, s []byte, rounds int) []byte {
	// Steps 4-8: digest B = SHA512(P || S || P).
	b := sha512.New()
	b.Write(pw)
	b.Write(s)
	b.Write(pw)
	sumB := b.Sum(nil)

	// Steps 1-3 and 9-12: digest A.
	a := sha512.New()
	a.Write(pw)
	a.Write(s)
	a.Write(repeat(sumB, len(pw)))
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(pw)
		}
	}
	sumA := a.Sum(nil)

	// Steps 13-16: the P sequence, from SHA512(P repeated len(P) times).
	dp := sha512.New()
	for range len(pw) {
		dp.Write(pw)
	}
	pSeq := repeat(dp.Sum(nil), len(pw))

	// Steps 17-20: the S sequence, from SHA512(S repeated 16+A[0] times).
	ds := sha512.New()
	for range 16 + int(sumA[0]) {
		ds.Write(s)
	}
	sSeq := repeat(ds.Sum(nil), len(s))

	// Step 21: the rounds.
	c := sumA
	h := sha512.New()
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(pSeq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sSeq)
		}
		if i%7 != 0 {
			h.Write(pSeq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pSeq)
		}
		c = h.Sum(c[:0])
	}
	return c
}

// repeat returns n bytes: sum repeated, the last copy cut short.
func repeat(sum []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, sum[:min(len(sum), n-len(out))]...)
	}
	return out
}

// order is the byte permutation of step 22 for SHA-512: groups of three bytes, each
// written as four characters, and a last single byte written as two.
var order = [...][3]int{
	{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26},
	{6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32},
	{12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16}, {59, 17, 38},
	{18, 39, 60}, {40, 61, 19}, {62, 20, 41},
}

func encode(sum []byte) string {
	out := make([]byte, 0, digestLen)
	put := func(w uint32, n int) {
		for range n {
			out = append(out, alphabet[w&0x3f])
			w >>= 6
		}
	}
	for _, g := range order {
		put(uint32(sum[g[0]])<<16|uint32(sum[g[1]])<<8|uint32(sum[g[2]]), 4)
	}
	put(uint32(sum[63]), 2)
	return string(out)
}
