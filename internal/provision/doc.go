// Package provision builds the provisioning medium of a VM made from a generalized
// image: the small read-only ISO 9660 disc labelled "cidata" described in
// docs/guest-protocol.md, which cloud-init, Windows Setup and hangar-agent read on the
// first boot of every new VM.
//
// Vocabulary:
//   - Config: what the user asked for (host name, admin account, keys, custom data) and
//     the instance-id, new for every VM. Validate checks it against Azure's rules so a
//     mistake is refused with a message the user can act on, before any VM starts.
//   - File: one named file of the medium, {Path, Data}, at the root of the disc.
//   - medium: the ISO image holding the files, volume identifier "cidata".
//
// The steps follow lima's cidata package and each is testable alone: Validate the
// Config, render it with Files into a sorted in-memory list (meta-data, user-data,
// ovf-env.xml, and Unattend.xml for Windows) from the embedded templates, and write
// the ISO last with WriteISO.
//
// Invariants: Files is a pure, deterministic function of the Config (the crypt salt of
// the password hash is derived from the instance-id and user name, so a new VM gets a
// new salt and the same Config the same bytes); user-data carries only the
// SHA-512-crypt hash of the password, never the password itself (ovf-env.xml and
// Unattend.xml carry it in plain text, as Azure's do: their readers need it, and the
// host detaches the medium once the VM reported ready); WriteISO writes the same bytes
// for the same files (every date on the disc is a fixed one).
//
// The ISO writer is written here rather than taken from a module. The two candidates
// served by the Go module proxy do not fit: github.com/kdomanski/iso9660 (v0.4.0)
// writes plain ISO 9660 only and mangles "meta-data" into "meta_dat" (no Rock Ridge or
// Joliet names), and github.com/diskfs/go-diskfs (v1.9.4) writes Rock Ridge and Joliet
// but needs a file backend and a workspace directory on disk, and brings a dozen
// modules (logrus, xz, lz4, zstd, ...). The medium needs only a root directory of a
// few small files, which this package writes with both Rock Ridge (for Linux) and
// Joliet (for Windows) names; hangar-agent's reader (internal/agent/isofs) and
// isoinfo read it back in the tests.
//
// This package does no I/O besides writing to the io.Writer given to WriteISO.
package provision
