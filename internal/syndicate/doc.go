// Package syndicate holds what one Hangar installation hands another when it fills
// its marketplace from it: signing keys, signed catalog entries and catalogs, and
// the checks a subscriber applies to them. It does no I/O.
//
// Vocabulary:
//   - An installation's signing key is an Ed25519 key made on its first start. Its
//     public key travels as "ed25519:" + base64; its fingerprint is "SHA256:" +
//     unpadded base64 of the SHA-256 of the 32 key bytes, as OpenSSH shows keys.
//   - An Entry is one marketplace version as it leaves an installation: its URN,
//     plan, entitlement, flags, image definition and, per disk, the SHA-256 of the
//     disk's manifest (its JSON encoding, byte for byte as served).
//   - A Signed entry is the entry's JSON bytes, a signature over them and the
//     signer's fingerprint. A Catalog is a signed list of signed entries with the
//     time it was issued, so a subscriber also knows what is no longer offered.
//
// Invariants: a subscriber verifies a signature over the exact bytes it received
// before it decodes them; every signature is over a context string and the bytes,
// so an entry's signature can never pass for a catalog's; manifests are accepted
// only when their bytes hash to the digest a verified entry names, and only then
// decoded and validated; chunks are accepted only when they hash to their name.
package syndicate
