package provision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// VolumeLabel is the volume identifier of the medium, in the primary and the Joliet
// volume descriptor: what cloud-init's NoCloud source and hangar-agent look for.
const VolumeLabel = "cidata"

// MaxISOFileName is the longest file name WriteISO accepts, in bytes: Joliet allows 64
// UCS-2 characters and a directory record 255 bytes.
const MaxISOFileName = 64

// The layout of the ISO image WriteISO writes, in 2048-byte sectors:
//
//	0-15   system area (zeros)
//	16     primary volume descriptor (ISO 9660 names + Rock Ridge NM/PX entries)
//	17     supplementary volume descriptor (Joliet, UCS-2 names, level 3)
//	18     volume descriptor set terminator
//	19-22  path tables: primary L, primary M, Joliet L, Joliet M (the root only)
//	23     SUSP continuation area holding the Rock Ridge ER entry
//	24...  primary root directory, then the Joliet root directory
//	...    file data, each file starting on a sector
const (
	sectorSize      = 2048
	sectorPVD       = 16
	sectorSVD       = 17
	sectorTerm      = 18
	sectorPathL     = 19
	sectorPathM     = 20
	sectorJPathL    = 21
	sectorJPathM    = 22
	sectorCE        = 23
	sectorFirstDir  = 24
	pathTableSize   = 10 // one record: the root
	rrPXLen         = 36 // RRIP 1.10 PX entry (no inode number)
	modeDir         = 0o40555
	modeFile        = 0o100444
	rrID            = "RRIP_1991A"
	rrDescriptor    = "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
	rrSource        = "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION."
	applicationName = "HANGAR"
)

// isoDate is the fixed date of every record, 2000-01-01 00:00:00 UTC, so the same
// files give the same image.
var (
	isoDirDate = [7]byte{100, 1, 1, 0, 0, 0, 0}
	isoVolDate = []byte("2000010100000000\x00")
)

// isoEntry is one file as laid out on the disc.
type isoEntry struct {
	name    string // as given: the Rock Ridge and Joliet name
	primary string // ISO 9660 level 1 identifier, "META_DAT.;1"
	data    []byte
	extent  uint32
}

// WriteISO writes an ISO 9660 image labelled VolumeLabel holding files at its root,
// with Rock Ridge and Joliet names so that "meta-data" reads as "meta-data" on Linux
// and Windows. File names must be unique, at most MaxISOFileName bytes, without '/',
// control characters or any of `*:;?\`.
func WriteISO(w io.Writer, files []File) error {
	entries, err := isoEntries(files)
	if err != nil {
		return err
	}
	primaryDir, err := directorySectors(primaryRecords(entries, sectorFirstDir))
	if err != nil {
		return err
	}
	jolietRoot := sectorFirstDir + uint32(len(primaryDir)/sectorSize)
	jolietDir, err := directorySectors(jolietRecords(entries, jolietRoot))
	if err != nil {
		return err
	}
	next := uint64(jolietRoot) + uint64(len(jolietDir)/sectorSize)
	for i := range entries {
		entries[i].extent = uint32(next)
		next += (uint64(len(entries[i].data)) + sectorSize - 1) / sectorSize
		if next > math.MaxUint32 {
			return errors.New("provision: files too large for an ISO image")
		}
	}
	// The directories were laid out before the extents were known: lay them out again.
	primaryDir, _ = directorySectors(primaryRecords(entries, sectorFirstDir))
	jolietDir, _ = directorySectors(jolietRecords(entries, jolietRoot))

	total := uint32(next)
	head := make([]byte, sectorFirstDir*sectorSize)
	copy(head[sectorPVD*sectorSize:], volumeDescriptor(1, total, sectorFirstDir, uint32(len(primaryDir))))
	copy(head[sectorSVD*sectorSize:], volumeDescriptor(2, total, jolietRoot, uint32(len(jolietDir))))
	copy(head[sectorTerm*sectorSize:], []byte{255, 'C', 'D', '0', '0', '1', 1})
	writePathTable(head[sectorPathL*sectorSize:], sectorFirstDir, binary.LittleEndian)
	writePathTable(head[sectorPathM*sectorSize:], sectorFirstDir, binary.BigEndian)
	writePathTable(head[sectorJPathL*sectorSize:], jolietRoot, binary.LittleEndian)
	writePathTable(head[sectorJPathM*sectorSize:], jolietRoot, binary.BigEndian)
	copy(head[sectorCE*sectorSize:], rrER())

	for _, b := range [][]byte{head, primaryDir, jolietDir} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("provision: writing iso: %w", err)
		}
	}
	for _, e := range entries {
		if _, err := w.Write(e.data); err != nil {
			return fmt.Errorf("provision: writing iso: %w", err)
		}
		if pad := padding(len(e.data)); pad > 0 {
			if _, err := w.Write(make([]byte, pad)); err != nil {
				return fmt.Errorf("provision: writing iso: %w", err)
			}
		}
	}
	return nil
}

// isoEntries checks the names and gives each file a unique level 1 identifier.
func isoEntries(files []File) ([]isoEntry, error) {
	seen := map[string]bool{}
	used := map[string]bool{}
	var entries []isoEntry
	for _, f := range files {
		if err := checkISOName(f.Path); err != nil {
			return nil, err
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("provision: file %q given twice", f.Path)
		}
		if uint64(len(f.Data)) > math.MaxUint32 {
			return nil, fmt.Errorf("provision: file %q is larger than 4 GiB", f.Path)
		}
		seen[f.Path] = true
		id := level1Name(f.Path, used)
		used[id] = true
		entries = append(entries, isoEntry{name: f.Path, primary: id, data: f.Data})
	}
	return entries, nil
}

func checkISOName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("provision: file name %q is not allowed", name)
	case len(name) > MaxISOFileName:
		return fmt.Errorf("provision: file name %q is longer than %d bytes", name, MaxISOFileName)
	case !utf8.ValidString(name):
		return fmt.Errorf("provision: file name %q is not UTF-8", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r > 0xffff || strings.ContainsRune(`/*:;?\`, r) {
			return fmt.Errorf("provision: file name %q may not hold %q", name, r)
		}
	}
	return nil
}

// level1Name maps name to an ISO 9660 level 1 identifier, 8.3 upper-case d-characters
// and version ";1", unique among used: "meta-data" becomes "META_DAT.;1".
func level1Name(name string, used map[string]bool) string {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	base, ext = dChars(base, 8), dChars(ext, 3)
	if base == "" {
		base = "_"
	}
	id := base + "." + ext + ";1"
	for n := 1; used[id]; n++ {
		suffix := fmt.Sprint(n)
		b := base
		if len(b)+len(suffix) > 8 {
			b = b[:8-len(suffix)]
		}
		id = b + suffix + "." + ext + ";1"
	}
	return id
}

func dChars(s string, limit int) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if b.Len() == limit {
			break
		}
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// primaryRecords returns the primary root directory's records: ".", "..", then the
// files sorted by identifier, with Rock Ridge entries.
func primaryRecords(entries []isoEntry, root uint32) [][]byte {
	dot := append(append(suspSP(), rrPX(modeDir, 2)...), suspCE(sectorCE, 0, uint32(len(rrER())))...)
	recs := [][]byte{
		dirRecord([]byte{0}, root, 0, 2, dot),
		dirRecord([]byte{1}, root, 0, 2, rrPX(modeDir, 2)),
	}
	sorted := append([]isoEntry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return lessLevel1(sorted[i].primary, sorted[j].primary) })
	for _, e := range sorted {
		su := append(rrPX(modeFile, 1), rrNM(e.name)...)
		recs = append(recs, dirRecord([]byte(e.primary), e.extent, uint32(len(e.data)), 0, su))
	}
	return recs
}

// lessLevel1 orders identifiers as ECMA-119 9.3 asks: by name, then extension, each
// padded with spaces.
func lessLevel1(a, b string) bool {
	pad := func(id string) string {
		id, _, _ = strings.Cut(id, ";")
		name, ext, _ := strings.Cut(id, ".")
		return fmt.Sprintf("%-8s%-3s", name, ext)
	}
	return pad(a) < pad(b)
}

// jolietRecords returns the Joliet root directory's records, files sorted by their
// UCS-2 names, written without a ";1" version as genisoimage does.
func jolietRecords(entries []isoEntry, root uint32) [][]byte {
	recs := [][]byte{
		dirRecord([]byte{0}, root, 0, 2, nil),
		dirRecord([]byte{1}, root, 0, 2, nil),
	}
	sorted := append([]isoEntry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool {
		return bytes.Compare(ucs2(sorted[i].name), ucs2(sorted[j].name)) < 0
	})
	for _, e := range sorted {
		recs = append(recs, dirRecord(ucs2(e.name), e.extent, uint32(len(e.data)), 0, nil))
	}
	return recs
}

// directorySectors packs directory records into whole sectors (a record never crosses
// a sector boundary) and sets the size of "." and ".." to the directory's size.
func directorySectors(recs [][]byte) ([]byte, error) {
	var out []byte
	used := 0
	for _, r := range recs {
		if len(r) > 255 {
			return nil, errors.New("provision: directory record too long")
		}
		if used+len(r) > sectorSize {
			out = append(out, make([]byte, sectorSize-used)...)
			used = 0
		}
		out = append(out, r...)
		used += len(r)
	}
	out = append(out, make([]byte, padding(len(out)))...)
	size := uint32(len(out))
	for _, off := range []int{0, len(recs[0])} {
		bothEndian32(out[off+10:], size)
	}
	return out, nil
}

// dirRecord builds an ECMA-119 9.1 directory record.
func dirRecord(ident []byte, extent, size uint32, flags byte, systemUse []byte) []byte {
	n := 33 + len(ident)
	if len(ident)%2 == 0 {
		n++ // padding byte: the system use area starts on an even offset
	}
	rec := make([]byte, n, n+len(systemUse))
	rec = append(rec, systemUse...)
	rec[0] = byte(len(rec))
	bothEndian32(rec[2:], extent)
	bothEndian32(rec[10:], size)
	copy(rec[18:25], isoDirDate[:])
	rec[25] = flags
	bothEndian16(rec[28:], 1) // volume sequence number
	rec[32] = byte(len(ident))
	copy(rec[33:], ident)
	return rec
}

// volumeDescriptor builds the primary (kind 1) or Joliet supplementary (kind 2)
// volume descriptor, ECMA-119 8.4 and 8.5.
func volumeDescriptor(kind byte, totalSectors, rootExtent, rootSize uint32) []byte {
	d := make([]byte, sectorSize)
	d[0] = kind
	copy(d[1:6], "CD001")
	d[6] = 1
	text := func(off, n int, s string) {
		if kind == 2 {
			copy(d[off:off+n], padUCS2(s, n))
		} else {
			copy(d[off:off+n], fmt.Sprintf("%-*s", n, s))
		}
	}
	text(8, 32, "")           // system identifier
	text(40, 32, VolumeLabel) // volume identifier
	bothEndian32(d[80:], totalSectors)
	if kind == 2 {
		copy(d[88:], "%/E") // Joliet level 3
	}
	bothEndian16(d[120:], 1) // volume set size
	bothEndian16(d[124:], 1) // volume sequence number
	bothEndian16(d[128:], sectorSize)
	bothEndian32(d[132:], pathTableSize)
	pathL, pathM := uint32(sectorPathL), uint32(sectorPathM)
	if kind == 2 {
		pathL, pathM = sectorJPathL, sectorJPathM
	}
	binary.LittleEndian.PutUint32(d[140:], pathL)
	binary.BigEndian.PutUint32(d[148:], pathM)
	copy(d[156:190], dirRecord([]byte{0}, rootExtent, rootSize, 2, nil))
	text(190, 128, "")              // volume set identifier
	text(318, 128, "")              // publisher
	text(446, 128, "")              // data preparer
	text(574, 128, applicationName) // application
	text(702, 37, "")               // copyright file
	text(739, 37, "")               // abstract file
	text(776, 37, "")               // bibliographic file
	for _, off := range []int{813, 830, 864} {
		copy(d[off:off+17], isoVolDate)
	}
	copy(d[847:847+17], "0000000000000000\x00") // no expiration date
	d[881] = 1                                  // file structure version
	return d
}

func writePathTable(dst []byte, rootExtent uint32, order binary.ByteOrder) {
	dst[0] = 1 // identifier length
	order.PutUint32(dst[2:], rootExtent)
	order.PutUint16(dst[6:], 1) // parent: the root itself
}

// suspSP is the SUSP "SP" entry that opens the root's "." record.
func suspSP() []byte { return []byte{'S', 'P', 7, 1, 0xbe, 0xef, 0} }

// suspCE points at a continuation area.
func suspCE(sector, offset, length uint32) []byte {
	e := []byte{'C', 'E', 28, 1}
	e = append(e, make([]byte, 24)...)
	bothEndian32(e[4:], sector)
	bothEndian32(e[12:], offset)
	bothEndian32(e[20:], length)
	return e
}

// rrER is the SUSP "ER" entry naming the Rock Ridge extension, kept in the
// continuation area: with it the "." record would pass 255 bytes.
func rrER() []byte {
	e := []byte{'E', 'R', byte(8 + len(rrID) + len(rrDescriptor) + len(rrSource)), 1,
		byte(len(rrID)), byte(len(rrDescriptor)), byte(len(rrSource)), 1}
	return append(append(append(e, rrID...), rrDescriptor...), rrSource...)
}

// rrPX is the Rock Ridge POSIX attributes entry: mode, links, uid 0, gid 0.
func rrPX(mode, links uint32) []byte {
	e := make([]byte, rrPXLen)
	copy(e, "PX")
	e[2], e[3] = rrPXLen, 1
	bothEndian32(e[4:], mode)
	bothEndian32(e[12:], links)
	return e
}

// rrNM is the Rock Ridge alternate name entry.
func rrNM(name string) []byte {
	return append([]byte{'N', 'M', byte(5 + len(name)), 1, 0}, name...)
}

func ucs2(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.BigEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// padUCS2 encodes s in UCS-2 and pads it with UCS-2 spaces to n bytes.
func padUCS2(s string, n int) []byte {
	b := ucs2(s)
	for len(b)+2 <= n {
		b = append(b, 0, ' ')
	}
	return b[:min(len(b), n)]
}

func bothEndian16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func bothEndian32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

func padding(n int) int {
	return (sectorSize - n%sectorSize) % sectorSize
}
