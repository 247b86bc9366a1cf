package generalize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// Partition is one partition of a disk.
type Partition struct {
	// Number is the partition's number as Linux gives it: the GPT entry's index
	// plus one; for MBR 1 to 4 for the primary slots, 5 and up for logical ones.
	Number int    `json:"number"`
	Start  int64  `json:"start"` // bytes from the start of the disk
	Size   int64  `json:"size"`  // bytes
	Type   string `json:"type"`  // GPT type GUID (upper case), or MBR type as "0x83"
	Name   string `json:"name,omitempty"`
}

// PartitionTable is a disk's partition table.
type PartitionTable struct {
	Scheme     string      `json:"scheme"` // "gpt" or "mbr"
	SectorSize int         `json:"sectorSize"`
	Partitions []Partition `json:"partitions"`
}

// Errors of ReadPartitionTable, wrapped with details.
var (
	// ErrNoPartitionTable: neither a GPT nor an MBR partition table.
	ErrNoPartitionTable = errors.New("no partition table (neither GPT nor MBR)")
	// ErrBadPartitionTable: a table is there but inconsistent.
	ErrBadPartitionTable = errors.New("invalid partition table")
)

// Limits on what is read from untrusted tables.
const (
	maxGPTEntries    = 4096
	maxGPTEntrySize  = 4096
	maxGPTArrayBytes = 4 << 20
	maxLogical       = 256
	mbrSectorSize    = 512
)

// Known partition types.
const (
	gptMicrosoftReserved = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE"
	gptWindowsRecovery   = "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC"
	gptLinuxLVM          = "E6D6D379-F507-44C2-A23C-238F2A3DF928"
	mbrProtective        = 0xEE
)

var mbrExtended = map[byte]bool{0x05: true, 0x0F: true, 0x85: true}

// ReadPartitionTable reads the partition table of the disk r of size bytes: a GPT
// (512- or 4096-byte sectors; the primary header, else the backup at the end, each
// checked against its CRC32), or an MBR with its logical partitions. Every field is
// checked against the disk's size: a partition that does not fit is an error, not
// clipped. Empty entries are left out.
func ReadPartitionTable(r io.ReaderAt, size int64) (*PartitionTable, error) {
	if size < 2*mbrSectorSize {
		return nil, fmt.Errorf("%w: the disk is only %d bytes", ErrNoPartitionTable, size)
	}
	mbr := make([]byte, mbrSectorSize)
	if err := readAt(r, mbr, 0); err != nil {
		return nil, err
	}
	hasMBR := mbr[510] == 0x55 && mbr[511] == 0xAA && validMBREntries(mbr)
	protective := false
	if hasMBR {
		for i := 0; i < 4; i++ {
			if mbr[446+16*i+4] == mbrProtective {
				protective = true
			}
		}
	}
	var gptErrs []string
	for _, ss := range []int{512, 4096} {
		t, err := readGPT(r, size, ss)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, errNoGPT) {
			gptErrs = append(gptErrs, err.Error())
		}
	}
	if len(gptErrs) > 0 {
		return nil, fmt.Errorf("%w: GPT: %s", ErrBadPartitionTable, strings.Join(gptErrs, "; "))
	}
	if protective {
		return nil, fmt.Errorf("%w: a protective MBR (type 0xEE) but no GPT header", ErrBadPartitionTable)
	}
	if !hasMBR {
		return nil, ErrNoPartitionTable
	}
	return readMBR(r, size, mbr)
}

func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading %d bytes at offset %d: %w", len(p), off, err)
}

// validMBREntries tells an MBR from a volume boot sector (FAT, NTFS) that also
// ends in 55 AA: an MBR's status bytes are 0x00 or 0x80, and an NTFS or FAT boot
// sector names its file system at offset 3.
func validMBREntries(sector []byte) bool {
	oem := string(sector[3:11])
	if oem == ntfsOEM || oem == bitlockerOEM || oem == "EXFAT   " {
		return false
	}
	for i := 0; i < 4; i++ {
		if s := sector[446+16*i]; s != 0x00 && s != 0x80 {
			return false
		}
	}
	return true
}

var errNoGPT = errors.New("no GPT header")

// readGPT reads the GPT of a disk with ss-byte sectors: the primary header, or the
// backup one if the primary is missing or broken.
func readGPT(r io.ReaderAt, size int64, ss int) (*PartitionTable, error) {
	sectors := size / int64(ss)
	if sectors < 3 {
		return nil, errNoGPT
	}
	t, perr := readGPTHeader(r, size, ss, 1)
	if perr == nil {
		return t, nil
	}
	t, berr := readGPTHeader(r, size, ss, sectors-1)
	if berr == nil {
		return t, nil
	}
	if errors.Is(perr, errNoGPT) && errors.Is(berr, errNoGPT) {
		return nil, errNoGPT
	}
	return nil, fmt.Errorf("%d-byte sectors: primary header: %v; backup header: %v", ss, perr, berr)
}

func readGPTHeader(r io.ReaderAt, size int64, ss int, lba int64) (*PartitionTable, error) {
	sectors := size / int64(ss)
	hdr := make([]byte, ss)
	if err := readAt(r, hdr, lba*int64(ss)); err != nil {
		return nil, err
	}
	if string(hdr[:8]) != "EFI PART" {
		return nil, errNoGPT
	}
	le := binary.LittleEndian
	hsize := le.Uint32(hdr[12:])
	if hsize < 92 || int(hsize) > ss {
		return nil, fmt.Errorf("header size %d", hsize)
	}
	want := le.Uint32(hdr[16:])
	h := bytes.Clone(hdr[:hsize])
	clear(h[16:20])
	if got := crc32.ChecksumIEEE(h); got != want {
		return nil, fmt.Errorf("header CRC32 %08x, the header says %08x", got, want)
	}
	if my := le.Uint64(hdr[24:]); my != uint64(lba) {
		return nil, fmt.Errorf("header at LBA %d says it is at LBA %d", lba, my)
	}
	entryLBA := le.Uint64(hdr[72:])
	count := le.Uint32(hdr[80:])
	esize := le.Uint32(hdr[84:])
	if count > maxGPTEntries {
		return nil, fmt.Errorf("%d partition entries (at most %d supported)", count, maxGPTEntries)
	}
	if esize < 128 || esize > maxGPTEntrySize || esize%8 != 0 {
		return nil, fmt.Errorf("partition entry size %d", esize)
	}
	arrayBytes := int64(count) * int64(esize)
	if arrayBytes > maxGPTArrayBytes {
		return nil, fmt.Errorf("partition entry array of %d bytes", arrayBytes)
	}
	arraySectors := (arrayBytes + int64(ss) - 1) / int64(ss)
	if entryLBA < 2 && lba == 1 || entryLBA >= uint64(sectors) || uint64(sectors)-entryLBA < uint64(arraySectors) {
		return nil, fmt.Errorf("partition entries at LBA %d do not fit the disk", entryLBA)
	}
	array := make([]byte, arrayBytes)
	if err := readAt(r, array, int64(entryLBA)*int64(ss)); err != nil {
		return nil, err
	}
	if got, want := crc32.ChecksumIEEE(array), le.Uint32(hdr[88:]); got != want {
		return nil, fmt.Errorf("partition entry array CRC32 %08x, the header says %08x", got, want)
	}
	t := &PartitionTable{Scheme: "gpt", SectorSize: ss, Partitions: []Partition{}}
	for i := 0; i < int(count); i++ {
		e := array[i*int(esize) : (i+1)*int(esize)]
		if allZero(e[:16]) {
			continue
		}
		first, last := le.Uint64(e[32:]), le.Uint64(e[40:])
		if first == 0 || first > last || last >= uint64(sectors) {
			return nil, fmt.Errorf("partition %d: LBA %d to %d does not fit a disk of %d sectors", i+1, first, last, sectors)
		}
		t.Partitions = append(t.Partitions, Partition{
			Number: i + 1,
			Start:  int64(first) * int64(ss),
			Size:   int64(last-first+1) * int64(ss),
			Type:   guidString(e[:16]),
			Name:   utf16Name(e[56:128]),
		})
	}
	return t, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// guidString formats a GPT GUID: the first three fields are little-endian.
func guidString(b []byte) string {
	le := binary.LittleEndian
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", le.Uint32(b[0:]), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16])
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// readMBR reads the four primary entries and the chain of extended boot records.
func readMBR(r io.ReaderAt, size int64, mbr []byte) (*PartitionTable, error) {
	t := &PartitionTable{Scheme: "mbr", SectorSize: mbrSectorSize, Partitions: []Partition{}}
	sectors := uint64(size / mbrSectorSize)
	var extStart, extSize uint64
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i : 446+16*(i+1)]
		typ, start, count := e[4], uint64(binary.LittleEndian.Uint32(e[8:])), uint64(binary.LittleEndian.Uint32(e[12:]))
		if typ == 0 || count == 0 {
			continue
		}
		if start == 0 || start+count > sectors {
			return nil, fmt.Errorf("%w: partition %d: sectors %d to %d do not fit a disk of %d sectors",
				ErrBadPartitionTable, i+1, start, start+count-1, sectors)
		}
		if mbrExtended[typ] {
			if extStart != 0 {
				return nil, fmt.Errorf("%w: two extended partitions", ErrBadPartitionTable)
			}
			extStart, extSize = start, count
			continue
		}
		t.Partitions = append(t.Partitions, mbrPartition(i+1, typ, start, count))
	}
	if extStart == 0 {
		return t, nil
	}
	// Each EBR: entry 0 is a logical partition relative to the EBR, entry 1 the
	// next EBR relative to the extended partition's start.
	ebr := make([]byte, mbrSectorSize)
	seen := map[uint64]bool{}
	for at, n := extStart, 5; ; n++ {
		if n-4 > maxLogical {
			return nil, fmt.Errorf("%w: more than %d logical partitions", ErrBadPartitionTable, maxLogical)
		}
		if seen[at] || at < extStart || at >= extStart+extSize {
			return nil, fmt.Errorf("%w: extended boot record at sector %d is outside the extended partition or loops", ErrBadPartitionTable, at)
		}
		seen[at] = true
		if err := readAt(r, ebr, int64(at)*mbrSectorSize); err != nil {
			return nil, err
		}
		if ebr[510] != 0x55 || ebr[511] != 0xAA {
			return nil, fmt.Errorf("%w: extended boot record at sector %d has no 55 AA signature", ErrBadPartitionTable, at)
		}
		e := ebr[446:462]
		typ, rel, count := e[4], uint64(binary.LittleEndian.Uint32(e[8:])), uint64(binary.LittleEndian.Uint32(e[12:]))
		if typ != 0 && count != 0 {
			start := at + rel
			if rel == 0 || start+count > extStart+extSize {
				return nil, fmt.Errorf("%w: logical partition %d does not fit its extended partition", ErrBadPartitionTable, n)
			}
			t.Partitions = append(t.Partitions, mbrPartition(n, typ, start, count))
		}
		next := ebr[462:478]
		nrel := uint64(binary.LittleEndian.Uint32(next[8:]))
		if next[4] == 0 || nrel == 0 {
			return t, nil
		}
		at = extStart + nrel
	}
}

func mbrPartition(n int, typ byte, start, count uint64) Partition {
	return Partition{Number: n, Start: int64(start) * mbrSectorSize, Size: int64(count) * mbrSectorSize, Type: fmt.Sprintf("0x%02x", typ)}
}
