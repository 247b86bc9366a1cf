// Package isofs reads the root directory of an ISO 9660 image without mounting it:
// what hangar-agent needs to read its provisioning medium (docs/guest-protocol.md) on
// a guest that may lack the isofs kernel module.
//
// Vocabulary:
//   - sector: 2048 bytes; ISO 9660 addresses everything in sectors ("extents").
//   - volume descriptor: the sectors from 16 on; the primary one (type 1) holds the
//     volume identifier (the label, "cidata") and the root directory; a Joliet
//     supplementary one (type 2, escape "%/@", "%/C" or "%/E") holds a second root
//     directory with UCS-2 names.
//   - Rock Ridge: POSIX names and modes stored in the System Use area of the primary
//     directory records (SUSP entries "SP", "CE", "NM", ...).
//   - name: a file's Rock Ridge name if the disc has Rock Ridge, else its Joliet name,
//     else its ISO 9660 identifier lower-cased without ";1" or a trailing '.'.
//
// Invariants: the input is untrusted. Every offset, length and count read from the
// image is checked against the image size before it is used; directories, names,
// continuation areas and files are read with fixed upper bounds (MaxDirectorySize,
// MaxFiles, and the limit given to ReadFile), so a lying image can make Open fail but
// never allocate much. Errors wrap ErrInvalid (through *FormatError, which tells the
// byte offset of the bad field) or ErrNotISO.
//
// Only the root directory is read: the medium is flat.
package isofs
