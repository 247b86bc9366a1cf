// Package shacrypt computes and checks SHA-512-crypt password hashes ("$6$"), the
// scheme of glibc's crypt(3) and of /etc/shadow on current Linux distributions, as
// specified in Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512".
//
// Vocabulary:
//   - hash: the whole string "$6$[rounds=N$]SALT$DIGEST", what /etc/shadow holds.
//   - salt: up to 16 characters (longer salts are cut to 16, as crypt(3) does); any
//     byte but '$', ':' and newline. NewHash draws 16 from the crypt alphabet
//     [./0-9A-Za-z] with crypto/rand.
//   - rounds: how many times the digest is stretched; 5000 by default, clamped to
//     [1000, 999999999]. "rounds=N$" appears in a hash only when it was asked for.
//   - digest: 86 characters of the crypt alphabet encoding the 64-byte result.
//
// Invariants: Hash is a pure function of its arguments; Verify recomputes the hash with
// the salt and rounds found in the given hash and compares in constant time; nothing
// here keeps or logs a password.
//
// The algorithm is implemented here on crypto/sha512 rather than taken from a module:
// the guest agent, which uses this package, is built from the standard library and
// golang.org/x/crypto only.
package shacrypt
