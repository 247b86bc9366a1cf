package isofs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// Limits on what Open reads.
const (
	SectorSize       = 2048
	MaxDirectorySize = 1 << 20 // bytes of the root directory
	MaxFiles         = 4096    // entries of the root directory
	maxDescriptors   = 64      // volume descriptors looked at before giving up
	maxContinuations = 16      // SUSP continuation areas followed per record
	maxNameLen       = 255
)

// Sentinel errors.
var (
	// ErrNotISO reports an image without an ISO 9660 primary volume descriptor.
	ErrNotISO = errors.New("isofs: not an iso 9660 image")
	// ErrInvalid is wrapped by every *FormatError.
	ErrInvalid = errors.New("isofs: invalid iso 9660 image")
	// ErrNotFound reports a file ReadFile did not find in the root directory.
	ErrNotFound = errors.New("isofs: file not found")
)

// FormatError says which field at which byte offset of the image is wrong.
type FormatError struct {
	Offset int64
	Field  string
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("isofs: %s at offset %d: %s", e.Field, e.Offset, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FormatError) Unwrap() error { return ErrInvalid }

func formatErr(off int64, field, format string, args ...any) error {
	return &FormatError{Offset: off, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// File is a regular file of the root directory.
type File struct {
	Name   string // see the package comment
	Size   int64
	extent int64 // byte offset of the data
}

// Volume is an opened image: its label and its root directory's files.
type Volume struct {
	r     io.ReaderAt
	size  int64
	label string
	files []File
}

// Label reads only the primary volume descriptor and returns the volume identifier
// without its padding, or ErrNotISO.
func Label(r io.ReaderAt, size int64) (string, error) {
	d, err := readDescriptor(r, size, 16)
	if err != nil || d[0] != 1 {
		return "", ErrNotISO
	}
	return trimID(d[40:72]), nil
}

// Open reads the volume descriptors and the root directory of the image r of size
// bytes.
func Open(r io.ReaderAt, size int64) (*Volume, error) {
	pvd, joliet, err := descriptors(r, size)
	if err != nil {
		return nil, err
	}
	v := &Volume{r: r, size: size, label: trimID(pvd[40:72])}
	primary, err := readDir(r, size, pvd[156:190], sectorOffset(16)+156, true)
	if err != nil {
		return nil, err
	}
	switch {
	case primary.rockRidge:
		v.files = primary.files(nameRockRidge)
	case joliet != nil:
		jd, err := readDir(r, size, joliet.root, joliet.off, false)
		if err != nil {
			return nil, err
		}
		v.files = jd.files(nameJoliet)
	default:
		v.files = primary.files(namePrimary)
	}
	return v, nil
}

// Label is the volume identifier of the primary volume descriptor.
func (v *Volume) Label() string { return v.label }

// Files lists the regular files of the root directory in directory order.
func (v *Volume) Files() []File { return append([]File(nil), v.files...) }

// ReadFile returns the content of the root file called name, refusing a file larger
// than limit bytes.
func (v *Volume) ReadFile(name string, limit int64) ([]byte, error) {
	for _, f := range v.files {
		if f.Name != name {
			continue
		}
		if f.Size > limit {
			return nil, fmt.Errorf("isofs: file %q is %d bytes, more than the %d expected", name, f.Size, limit)
		}
		if f.Size == 0 {
			return []byte{}, nil
		}
		if f.extent > v.size || f.Size > v.size-f.extent {
			return nil, formatErr(f.extent, "file "+name, "data of %d bytes runs past the end of the image", f.Size)
		}
		buf := make([]byte, f.Size)
		if _, err := v.r.ReadAt(buf, f.extent); err != nil {
			return nil, fmt.Errorf("isofs: reading %q: %w", name, err)
		}
		return buf, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
}

// jolietRoot is the root directory record of a Joliet descriptor and its offset.
type jolietRoot struct {
	root []byte
	off  int64
}

// descriptors scans the volume descriptor set for the primary descriptor and a
// Joliet supplementary one.
func descriptors(r io.ReaderAt, size int64) (pvd []byte, joliet *jolietRoot, err error) {
	for i := int64(16); i < 16+maxDescriptors; i++ {
		d, err := readDescriptor(r, size, i)
		if err != nil {
			break
		}
		switch d[0] {
		case 1:
			if pvd == nil {
				pvd = d
			}
		case 2:
			esc := d[88:91]
			if joliet == nil && esc[0] == '%' && esc[1] == '/' && bytes.IndexByte([]byte("@CE"), esc[2]) >= 0 {
				joliet = &jolietRoot{root: d[156:190], off: sectorOffset(i) + 156}
			}
		case 255:
			i = 16 + maxDescriptors
		}
	}
	if pvd == nil {
		return nil, nil, ErrNotISO
	}
	return pvd, joliet, nil
}

func readDescriptor(r io.ReaderAt, size, sector int64) ([]byte, error) {
	off := sectorOffset(sector)
	if off+SectorSize > size {
		return nil, ErrNotISO
	}
	d := make([]byte, SectorSize)
	if _, err := r.ReadAt(d, off); err != nil {
		return nil, err
	}
	if string(d[1:6]) != "CD001" {
		return nil, ErrNotISO
	}
	return d, nil
}

func sectorOffset(sector int64) int64 { return sector * SectorSize }

func trimID(b []byte) string {
	return strings.TrimRight(string(b), " \x00")
}

// record is one parsed directory record.
type record struct {
	off      int64 // of the record in the image
	extent   int64
	size     int64
	flags    byte
	ident    []byte
	rrName   string // Rock Ridge NM, if any
	hasRR    bool   // any Rock Ridge entry
	suOffset int    // where the system use area starts in the record
}

// directory is a parsed root directory.
type directory struct {
	records   []record
	rockRidge bool
}

const (
	flagDirectory  = 0x02
	flagMultiExent = 0x80
	flagAssociated = 0x04
)

// readDir reads the directory whose record rootRec (at offset recOff) describes, and
// the SUSP entries of its records if susp is set.
func readDir(r io.ReaderAt, size int64, rootRec []byte, recOff int64, susp bool) (*directory, error) {
	extent, dirSize, err := extentOf(rootRec, recOff, size)
	if err != nil {
		return nil, err
	}
	if dirSize > MaxDirectorySize {
		return nil, formatErr(recOff+10, "root directory size", "%d bytes is more than the %d allowed", dirSize, MaxDirectorySize)
	}
	data := make([]byte, dirSize)
	if _, err := r.ReadAt(data, extent); err != nil {
		return nil, fmt.Errorf("isofs: reading the root directory: %w", err)
	}
	d := &directory{}
	skip := -1 // SUSP bytes to skip, known once "." is read
	for pos := 0; pos < len(data); {
		n := int(data[pos])
		if n == 0 { // the rest of this sector is padding
			pos = (pos/SectorSize + 1) * SectorSize
			continue
		}
		off := extent + int64(pos)
		if n < 34 || pos+n > len(data) {
			return nil, formatErr(off, "directory record length", "%d does not fit", n)
		}
		rec, err := parseRecord(data[pos:pos+n], off)
		if err != nil {
			return nil, err
		}
		if susp {
			if skip < 0 { // the first record, ".", opens with "SP" if there is SUSP
				skip = spSkip(data[pos+rec.suOffset : pos+n])
			} else {
				rec.suOffset += skip
			}
			readSystemUse(r, size, data[pos:pos+n], &rec)
			d.rockRidge = d.rockRidge || rec.hasRR
		}
		if len(d.records) == MaxFiles {
			return nil, formatErr(off, "root directory", "more than %d entries", MaxFiles)
		}
		d.records = append(d.records, rec)
		pos += n
	}
	return d, nil
}

func extentOf(rec []byte, off, size int64) (extent, length int64, err error) {
	if len(rec) < 34 || rec[0] < 34 {
		return 0, 0, formatErr(off, "directory record", "too short")
	}
	extent = sectorOffset(int64(binary.LittleEndian.Uint32(rec[2:])))
	length = int64(binary.LittleEndian.Uint32(rec[10:]))
	if extent > size || length > size-extent {
		return 0, 0, formatErr(off+2, "extent", "%d bytes at offset %d run past the end of the image (%d bytes)", length, extent, size)
	}
	return extent, length, nil
}

// parseRecord parses the directory record b at offset off. The extent is checked
// when the file is read, so one bad record does not hide the others.
func parseRecord(b []byte, off int64) (record, error) {
	extent := sectorOffset(int64(binary.LittleEndian.Uint32(b[2:])))
	length := int64(binary.LittleEndian.Uint32(b[10:]))
	idLen := int(b[32])
	suOffset := 33 + idLen
	if idLen%2 == 0 {
		suOffset++
	}
	if idLen == 0 || suOffset > len(b) {
		return record{}, formatErr(off+32, "file identifier length", "%d does not fit in a record of %d bytes", idLen, len(b))
	}
	return record{off: off, extent: extent, size: length, flags: b[25], ident: b[33 : 33+idLen], suOffset: suOffset}, nil
}

// spSkip returns the SUSP skip length if su opens with an "SP" entry, else 0.
func spSkip(su []byte) int {
	if len(su) >= 7 && su[0] == 'S' && su[1] == 'P' && su[2] == 7 && su[4] == 0xbe && su[5] == 0xef {
		return int(su[6])
	}
	return 0
}

type naming int

const (
	nameRockRidge naming = iota
	nameJoliet
	namePrimary
)

// files returns the regular files, named as asked; "." and ".." are left out, and so
// are directories, associated files, multi-extent files and repeated names.
func (d *directory) files(how naming) []File {
	var out []File
	seen := map[string]bool{}
	for _, rec := range d.records {
		if len(rec.ident) == 1 && rec.ident[0] <= 1 {
			continue
		}
		if rec.flags&(flagDirectory|flagMultiExent|flagAssociated) != 0 {
			continue
		}
		var name string
		switch how {
		case nameRockRidge:
			name = rec.rrName
			if name == "" {
				name = primaryName(rec.ident)
			}
		case nameJoliet:
			name = jolietName(rec.ident)
		default:
			name = primaryName(rec.ident)
		}
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, File{Name: name, Size: rec.size, extent: rec.extent})
	}
	return out
}

// primaryName turns "META_DAT.;1" into "meta_dat", as Linux shows such names.
func primaryName(id []byte) string {
	s := string(id)
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// jolietName decodes a UCS-2 big-endian identifier and drops its ";1".
func jolietName(id []byte) string {
	u := make([]uint16, len(id)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(id[2*i:])
	}
	s := string(utf16.Decode(u))
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return s
}
