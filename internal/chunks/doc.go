// Package chunks is the content-addressed layer under every stored disk.
//
// Glossary:
//   - chunk: up to ChunkSize bytes of a virtual disk, aligned to a multiple of ChunkSize,
//     stored once as an immutable object named by the SHA-256 of its bytes (its Digest).
//   - manifest: a disk's virtual size and the ordered list of its non-zero chunks.
//     Ranges not listed read as zeros; all-zero chunks are never stored.
//   - backend: anything that stores named bytes (a local directory, an S3 bucket).
//     Backends know nothing of digests: Store adds the addressing and the verification.
//
// Invariants: an object is written once and never modified; its name is the hex SHA-256
// of its content; every write is verified against the name before it becomes visible
// and every read can be re-verified (scrub).
//
// This package does no network I/O and knows nothing of tenants or HTTP.
package chunks
