// Package generalize generalizes a stopped Linux disk offline: the same clean-up
// as `hangar-agent deprovision` inside the running guest, done by that same code.
//
// No host process reads a guest file system. The work happens inside Hangar's
// appliance, a throwaway VM booted by package appliance with the disk as its only
// drive, no network, and bounded time and memory. There, hangar-agent runs Work:
// it reads the partition table and the superblocks (ReadPartitionTable, probe) to
// find the one Linux root file system, checks it with the file system's own tool
// (e2fsck, xfs_repair, btrfs check), mounts it with the appliance's kernel (which
// replays a journal), chroots into it and runs agent.Deprovision there, exactly
// as inside the guest (so symbolic links resolve inside the guest's root), then
// unmounts it and checks it again. A hostile file system can at worst take over
// the throwaway appliance, whose only way out is the report it sends the host,
// which the host reads as untrusted, bounded input.
//
// This package holds the job's vocabulary shared by both sides: Options, Report,
// the refusals, the job's kernel command line and the messages of the report
// channel.
package generalize

import (
	"errors"
	"io"

	"github.com/hangarvm/hangar/internal/agent"
)

// Options say what a generalize job does (on the host: package appliance).
type Options struct {
	Image      string    // a raw disk image file
	RemoveUser bool      // also remove the last provisioned user (deprovision+user)
	DryRun     bool      // list the changes, change nothing (the image is only read)
	Log        io.Writer // progress and one line per change; nil discards
}

// Report is what a generalize job found and did.
type Report struct {
	Image      string         `json:"image"`
	Scheme     string         `json:"partitionTable"` // "gpt" or "mbr"
	Partition  Partition      `json:"partition"`      // the root file system's
	Filesystem string         `json:"filesystem"`     // "ext4", "ext3", "ext2", "xfs" or "btrfs"
	Label      string         `json:"label,omitempty"`
	DryRun     bool           `json:"dryRun"`
	User       string         `json:"user,omitempty"` // the provisioned user removed
	Changes    []agent.Change `json:"changes"`
	Notes      []string       `json:"notes,omitempty"`
	// Repaired is the file system check's summary when it had to repair the file
	// system before the clean-up (the repair is part of the result).
	Repaired string `json:"repaired,omitempty"`
	// Replaced tells whether the image file was rewritten (false for a dry run,
	// or when there was nothing to change).
	Replaced bool `json:"replaced"`
}

// Errors a disk is refused with, wrapped with the details.
var (
	ErrNotRaw      = errors.New("not a raw disk image")
	ErrWindows     = errors.New("a Windows disk must be generalized inside Windows with Sysprep: run `C:\\Windows\\System32\\Sysprep\\sysprep.exe /generalize /oobe /shutdown`")
	ErrNoRoot      = errors.New("no Linux root file system found")
	ErrSeveralRoot = errors.New("several Linux root file systems")
	ErrInUse       = errors.New("the image is in use")
	ErrCheckFailed = errors.New("the file system check failed")
	// ErrAppliance: the appliance failed or misbehaved (crashed, timed out, sent
	// something malformed); the disk is left as it was.
	ErrAppliance = errors.New("the appliance failed")
)

// refusals name the errors that cross the report channel, so that the host can
// give back the same sentinel.
var refusals = map[string]error{
	"windows": ErrWindows, "no-root": ErrNoRoot, "several-roots": ErrSeveralRoot,
	"check-failed": ErrCheckFailed, "no-partition-table": ErrNoPartitionTable,
	"bad-partition-table": ErrBadPartitionTable,
}
