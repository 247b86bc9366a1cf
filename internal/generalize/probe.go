package generalize

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Boot sector OEM ids at offset 3 of a volume.
const (
	ntfsOEM      = "NTFS    "
	bitlockerOEM = "-FVE-FS-"
)

// Filesystem kinds found by probe.
const (
	fsExt       = "ext"       // ext2, ext3 or ext4
	fsNTFS      = "ntfs"      // Windows
	fsBitLocker = "bitlocker" // Windows, encrypted
	fsXFS       = "xfs"
	fsBtrfs     = "btrfs"
	fsLVM       = "lvm"
	fsLUKS      = "luks"
	fsSwap      = "swap"
)

// ext superblock fields (offsets in the superblock, which is 1024 bytes into the
// partition) and feature flags.
const (
	extSuperOffset   = 1024
	extMagic         = 0xEF53
	incompatJournal  = 0x8  // an external journal device, not a file system
	incompat64bit    = 0x80 // s_blocks_count_hi is used
	compatHasJournal = 0x4
	incompatExtents  = 0x40
)

// volume is what probe found on a partition.
type volume struct {
	kind    string
	label   string // ext volume name
	version string // "ext2", "ext3", "ext4", "xfs" or "btrfs"
}

// probe looks at the first bytes of a partition (and its ext superblock) and says
// what it holds; an ext superblock is checked against the partition's size, so
// that editing it cannot write past the partition's end.
func probe(r io.ReaderAt, p Partition) (volume, error) {
	const head = 4096
	if p.Size < head {
		return volume{}, nil
	}
	b := make([]byte, head)
	if err := readAt(r, b, p.Start); err != nil {
		return volume{}, err
	}
	switch {
	case string(b[3:11]) == ntfsOEM:
		return volume{kind: fsNTFS}, nil
	case string(b[3:11]) == bitlockerOEM:
		return volume{kind: fsBitLocker}, nil
	case string(b[:4]) == "XFSB":
		return volume{kind: fsXFS, version: "xfs"}, nil
	case bytes.HasPrefix(b, []byte("LUKS\xba\xbe")):
		return volume{kind: fsLUKS}, nil
	case string(b[512:520]) == "LABELONE" || string(b[536:544]) == "LVM2 001":
		return volume{kind: fsLVM}, nil
	case string(b[head-10:]) == "SWAPSPACE2":
		return volume{kind: fsSwap}, nil
	}
	sb := b[extSuperOffset : extSuperOffset+1024]
	le := binary.LittleEndian
	if le.Uint16(sb[56:]) == extMagic {
		return extVolume(sb, p)
	}
	if p.Size >= 65536+4096 {
		bt := make([]byte, 8)
		if err := readAt(r, bt, p.Start+65536+64); err != nil {
			return volume{}, err
		}
		if string(bt) == "_BHRfS_M" {
			return volume{kind: fsBtrfs, version: "btrfs"}, nil
		}
	}
	return volume{}, nil
}

func extVolume(sb []byte, p Partition) (volume, error) {
	le := binary.LittleEndian
	compat, incompat := le.Uint32(sb[92:]), le.Uint32(sb[96:])
	if incompat&incompatJournal != 0 {
		return volume{}, nil // an external journal, not a file system
	}
	logBlock := le.Uint32(sb[24:])
	if logBlock > 6 {
		return volume{}, fmt.Errorf("partition %d: ext superblock with a block size of 2^%d KiB", p.Number, logBlock)
	}
	blockSize := uint64(1024) << logBlock
	blocks := uint64(le.Uint32(sb[4:]))
	if incompat&incompat64bit != 0 {
		blocks |= uint64(le.Uint32(sb[336:])) << 32
	}
	if blocks == 0 || blocks > uint64(p.Size)/blockSize {
		return volume{}, fmt.Errorf("partition %d: its ext file system says it is %d blocks of %d bytes, "+
			"larger than the partition (%d bytes)", p.Number, blocks, blockSize, p.Size)
	}
	v := volume{kind: fsExt, label: cString(sb[120:136]), version: "ext2"}
	switch {
	case incompat&(incompatExtents|incompat64bit) != 0:
		v.version = "ext4"
	case compat&compatHasJournal != 0:
		v.version = "ext3"
	}
	return v, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
