package generalize

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/generalize/gentest"
)

// gptPart is a partition for buildGPT: LBAs, type GUID bytes (on-disk order).
type gptPart struct {
	index       int // entry slot
	first, last uint64
	typ         [16]byte
	name        string
}

var linuxFSGUID = [16]byte{0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4}

// buildGPT returns a disk of sectors ss-byte sectors with a protective MBR and
// primary and backup GPTs of 128 entries.
func buildGPT(ss int, sectors int64, parts ...gptPart) []byte {
	disk := make([]byte, int64(ss)*sectors)
	le := binary.LittleEndian
	// protective MBR
	e := disk[446:]
	e[4] = 0xEE
	le.PutUint32(e[8:], 1)
	le.PutUint32(e[12:], uint32(min(sectors-1, 0xFFFFFFFF)))
	disk[510], disk[511] = 0x55, 0xAA
	array := make([]byte, 128*128)
	for _, p := range parts {
		ent := array[p.index*128:]
		copy(ent, p.typ[:])
		ent[16] = byte(p.index + 1) // unique GUID
		le.PutUint64(ent[32:], p.first)
		le.PutUint64(ent[40:], p.last)
		for i, r := range p.name {
			le.PutUint16(ent[56+2*i:], uint16(r))
		}
	}
	arraySectors := int64(len(array) / ss)
	header := func(my, alt, entries int64) []byte {
		h := make([]byte, 92)
		copy(h, "EFI PART")
		le.PutUint32(h[8:], 0x00010000)
		le.PutUint32(h[12:], 92)
		le.PutUint64(h[24:], uint64(my))
		le.PutUint64(h[32:], uint64(alt))
		le.PutUint64(h[40:], uint64(2+arraySectors))
		le.PutUint64(h[48:], uint64(sectors-2-arraySectors))
		le.PutUint64(h[72:], uint64(entries))
		le.PutUint32(h[80:], 128)
		le.PutUint32(h[84:], 128)
		le.PutUint32(h[88:], crc32.ChecksumIEEE(array))
		le.PutUint32(h[16:], crc32.ChecksumIEEE(h))
		return h
	}
	copy(disk[ss:], header(1, sectors-1, 2))
	copy(disk[2*ss:], array)
	backupEntries := sectors - 1 - arraySectors
	copy(disk[backupEntries*int64(ss):], array)
	copy(disk[(sectors-1)*int64(ss):], header(sectors-1, 1, backupEntries))
	return disk
}

// buildMBR returns a disk with the given primary entries (type, start, count)
// and, for an extended entry, EBRs of logical (start relative to their EBR).
func buildMBR(sectors int64, primary [][3]uint32, logical [][3]uint32) []byte {
	disk := make([]byte, 512*sectors)
	le := binary.LittleEndian
	var ext uint32
	for i, p := range primary {
		e := disk[446+16*i:]
		e[4] = byte(p[0])
		le.PutUint32(e[8:], p[1])
		le.PutUint32(e[12:], p[2])
		if mbrExtended[byte(p[0])] {
			ext = p[1]
		}
	}
	disk[510], disk[511] = 0x55, 0xAA
	at := ext
	for i, l := range logical {
		ebr := disk[512*int64(at):]
		ebr[446+4] = byte(l[0])
		le.PutUint32(ebr[446+8:], l[1])
		le.PutUint32(ebr[446+12:], l[2])
		ebr[510], ebr[511] = 0x55, 0xAA
		if i+1 < len(logical) {
			next := at + l[1] + l[2] // the next EBR right after this partition
			ebr[462+4] = 0x05
			le.PutUint32(ebr[462+8:], next-ext)
			le.PutUint32(ebr[462+12:], logical[i+1][1]+logical[i+1][2])
			at = next
		}
	}
	return disk
}

func TestReadPartitionTable(t *testing.T) {
	gpt := buildGPT(512, 4096, gptPart{index: 0, first: 34, last: 2047, typ: linuxFSGUID, name: "boot"},
		gptPart{index: 3, first: 2048, last: 4000, typ: linuxFSGUID, name: "root"})
	brokenPrimary := bytes.Clone(gpt)
	brokenPrimary[512+40] ^= 1 // first usable LBA: the CRC no longer matches
	bothBroken := bytes.Clone(brokenPrimary)
	bothBroken[len(bothBroken)-512+40] ^= 1
	badEntry := buildGPT(512, 4096, gptPart{index: 0, first: 34, last: 5000, typ: linuxFSGUID})
	mbr := buildMBR(8192, [][3]uint32{{0x83, 2048, 2048}, {0x05, 4096, 4000}}, [][3]uint32{{0x83, 1, 1000}, {0x07, 1, 2000}})
	loop := bytes.Clone(mbr)
	ebr2 := (4096 + 1001) * 512 // the second EBR points at itself
	loop[ebr2+462+4] = 0x05
	binary.LittleEndian.PutUint32(loop[ebr2+462+8:], 1001)
	binary.LittleEndian.PutUint32(loop[ebr2+462+12:], 10)
	tooBig := buildMBR(100, [][3]uint32{{0x83, 2048, 2048}}, nil)
	ntfsVolume := make([]byte, 8192)
	copy(ntfsVolume[3:], ntfsOEM)
	ntfsVolume[510], ntfsVolume[511] = 0x55, 0xAA

	tests := []struct {
		name   string
		disk   []byte
		scheme string
		parts  []Partition
		err    error
		msg    string
	}{
		{name: "GPT", disk: gpt, scheme: "gpt", parts: []Partition{
			{Number: 1, Start: 34 * 512, Size: (2047 - 34 + 1) * 512, Type: gentest.LinuxFS, Name: "boot"},
			{Number: 4, Start: 2048 * 512, Size: (4000 - 2048 + 1) * 512, Type: gentest.LinuxFS, Name: "root"}}},
		{name: "GPT from its backup header", disk: brokenPrimary, scheme: "gpt", parts: []Partition{
			{Number: 1, Start: 34 * 512, Size: (2047 - 34 + 1) * 512, Type: gentest.LinuxFS, Name: "boot"},
			{Number: 4, Start: 2048 * 512, Size: (4000 - 2048 + 1) * 512, Type: gentest.LinuxFS, Name: "root"}}},
		{name: "GPT with both headers broken", disk: bothBroken, err: ErrBadPartitionTable, msg: "header CRC32"},
		{name: "GPT partition past the end", disk: badEntry, err: ErrBadPartitionTable, msg: "does not fit a disk of 4096 sectors"},
		{name: "4K-sector GPT", disk: buildGPT(4096, 1024, gptPart{index: 0, first: 6, last: 1000, typ: linuxFSGUID}), scheme: "gpt",
			parts: []Partition{{Number: 1, Start: 6 * 4096, Size: 995 * 4096, Type: gentest.LinuxFS}}},
		{name: "MBR with logical partitions", disk: mbr, scheme: "mbr", parts: []Partition{
			{Number: 1, Start: 2048 * 512, Size: 2048 * 512, Type: "0x83"},
			{Number: 5, Start: 4097 * 512, Size: 1000 * 512, Type: "0x83"},
			{Number: 6, Start: (4096 + 1001 + 1) * 512, Size: 2000 * 512, Type: "0x07"}}},
		{name: "EBR loop", disk: loop, err: ErrBadPartitionTable, msg: "loops"},
		{name: "MBR partition past the end", disk: tooBig, err: ErrBadPartitionTable, msg: "do not fit a disk of 100 sectors"},
		{name: "protective MBR without GPT", disk: buildMBR(100, [][3]uint32{{0xEE, 1, 99}}, nil), err: ErrBadPartitionTable, msg: "protective MBR"},
		{name: "an NTFS boot sector is no MBR", disk: ntfsVolume, err: ErrNoPartitionTable},
		{name: "zeros", disk: make([]byte, 1<<20), err: ErrNoPartitionTable},
		{name: "tiny", disk: make([]byte, 100), err: ErrNoPartitionTable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPartitionTable(bytes.NewReader(tt.disk), int64(len(tt.disk)))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("error %v, want %v ...%s...", err, tt.err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got.Partitions)
			wantJSON, _ := json.Marshal(tt.parts)
			if got.Scheme != tt.scheme || string(gotJSON) != string(wantJSON) {
				t.Errorf("got %s %s\nwant %s %s", got.Scheme, gotJSON, tt.scheme, wantJSON)
			}
		})
	}
}

// TestReadPartitionTableLikeSfdisk reads tables sfdisk wrote and compares with
// what sfdisk --json says.
func TestReadPartitionTableLikeSfdisk(t *testing.T) {
	gentest.NeedTools(t, "sfdisk")
	for _, tt := range []struct {
		label   string
		logical bool
		parts   []gentest.Part
	}{
		{"gpt", false, []gentest.Part{{SizeMiB: 2, Type: gentest.LinuxFS}, {SizeMiB: 3, Type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"}, {SizeMiB: 1, Type: gentest.LinuxFS}}},
		{"dos", false, []gentest.Part{{SizeMiB: 2, Type: "83"}, {SizeMiB: 1, Type: "7"}}},
		{"dos", true, []gentest.Part{{SizeMiB: 2, Type: "83"}, {SizeMiB: 3, Type: "83"}, {SizeMiB: 1, Type: "82"}, {SizeMiB: 1, Type: "8e"}}},
	} {
		disk := gentest.Disk(t, tt.label, tt.logical, tt.parts...)
		var sf struct {
			PartitionTable struct {
				Label      string `json:"label"`
				SectorSize int64  `json:"sectorsize"`
				Partitions []struct {
					Node  string `json:"node"`
					Start int64  `json:"start"`
					Size  int64  `json:"size"`
					Type  string `json:"type"`
				} `json:"partitions"`
			} `json:"partitiontable"`
		}
		if err := json.Unmarshal([]byte(gentest.Run(t, "", "sfdisk", "--json", disk)), &sf); err != nil {
			t.Fatal(err)
		}
		var want []Partition
		for _, p := range sf.PartitionTable.Partitions {
			n, _ := strconv.Atoi(strings.TrimPrefix(p.Node, disk))
			typ := p.Type
			if tt.label == "dos" {
				v, _ := strconv.ParseUint(typ, 16, 8)
				if mbrExtended[byte(v)] {
					continue
				}
				typ = "0x" + strings.ToLower(map[bool]string{true: "0", false: ""}[len(typ) == 1]+typ)
			}
			want = append(want, Partition{Number: n, Start: p.Start * 512, Size: p.Size * 512, Type: typ})
		}
		f, err := os.Open(disk)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		got, err := ReadPartitionTable(f, fi.Size())
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		scheme := map[string]string{"gpt": "gpt", "dos": "mbr"}[tt.label]
		for i := range got.Partitions {
			got.Partitions[i].Name = "" // sfdisk --json leaves empty names out
		}
		gotJSON, _ := json.Marshal(got.Partitions)
		wantJSON, _ := json.Marshal(want)
		if got.Scheme != scheme || string(gotJSON) != string(wantJSON) {
			t.Errorf("%s (logical %v):\n got %s\nwant %s", tt.label, tt.logical, gotJSON, wantJSON)
		}
	}
}

// FuzzReadPartitionTable reads arbitrary disks: no panic, and every partition
// returned lies inside the disk.
func FuzzReadPartitionTable(f *testing.F) {
	f.Add(buildGPT(512, 128, gptPart{index: 0, first: 40, last: 90, typ: linuxFSGUID, name: "root"}))
	f.Add(buildGPT(4096, 16, gptPart{index: 1, first: 6, last: 10, typ: linuxFSGUID}))
	f.Add(buildMBR(64, [][3]uint32{{0x83, 1, 10}, {0x0F, 20, 40}}, [][3]uint32{{0x83, 1, 5}, {0x83, 1, 5}, {0x07, 1, 5}}))
	f.Add(buildMBR(8, [][3]uint32{{0xEE, 1, 7}}, nil))
	if seeds, _ := filepath.Glob(filepath.Join("testdata", "*.bin")); seeds != nil {
		for _, p := range seeds {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, disk []byte) {
		size := int64(len(disk))
		pt, err := ReadPartitionTable(bytes.NewReader(disk), size)
		if err != nil {
			if pt != nil {
				t.Fatal("a table with an error")
			}
			return
		}
		seen := map[int]bool{}
		for _, p := range pt.Partitions {
			if p.Start <= 0 || p.Size <= 0 || p.Start > size || p.Size > size-p.Start || seen[p.Number] || p.Number < 1 {
				t.Fatalf("partition %+v does not fit a disk of %d bytes (or repeats its number)", p, size)
			}
			seen[p.Number] = true
			v, err := probe(bytes.NewReader(disk), p)
			if err == nil && v.kind == fsExt && v.version == "" {
				t.Fatal("ext volume without a version")
			}
		}
	})
}
