package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/hangar"
)

// manifestDisk reads a stored disk from its chunks: a diskfmt.Disk, so every format
// writer can export it. It keeps the last chunk it loaded, since writers read in
// small sequential pieces; memory is one chunk.
type manifestDisk struct {
	ctx    context.Context
	store  *chunks.Store
	m      chunks.Manifest
	mu     sync.Mutex
	cached chunks.Digest
	data   []byte
}

var _ diskfmt.Disk = (*manifestDisk)(nil)

func (d *manifestDisk) Format() diskfmt.Format { return diskfmt.Raw }
func (d *manifestDisk) VirtualSize() int64     { return d.m.VirtualSize }

func (d *manifestDisk) Extents() []diskfmt.Extent {
	out := make([]diskfmt.Extent, 0, len(d.m.Extents))
	for _, e := range d.m.Extents {
		if n := len(out); n > 0 && out[n-1].Offset+out[n-1].Length == e.Offset {
			out[n-1].Length += e.Length
			continue
		}
		out = append(out, diskfmt.Extent{Offset: e.Offset, Length: e.Length})
	}
	return out
}

// ReadAt reads the virtual disk; ranges without a chunk read as zeros.
func (d *manifestDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset")
	}
	if off >= d.m.VirtualSize {
		return 0, io.EOF
	}
	var atEnd error
	if rest := d.m.VirtualSize - off; int64(len(p)) > rest {
		p, atEnd = p[:rest], io.EOF
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		chunkOff := pos / chunks.ChunkSize * chunks.ChunkSize
		k := min(int64(len(p)-n), chunkOff+chunks.ChunkSize-pos)
		data, err := d.chunk(chunkOff)
		if err != nil {
			return n, err
		}
		if data == nil {
			clear(p[n : n+int(k)])
		} else {
			copy(p[n:n+int(k)], data[pos-chunkOff:])
		}
		n += int(k)
	}
	return n, atEnd
}

// chunk returns the bytes of the chunk at off, or nil for a zero chunk.
func (d *manifestDisk) chunk(off int64) ([]byte, error) {
	i := sort.Search(len(d.m.Extents), func(i int) bool { return d.m.Extents[i].Offset >= off })
	if i == len(d.m.Extents) || d.m.Extents[i].Offset != off {
		return nil, nil
	}
	dg := d.m.Extents[i].Digest
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.data != nil && d.cached == dg {
		return d.data, nil
	}
	data, err := d.store.Load(d.ctx, dg)
	if err != nil {
		return nil, fmt.Errorf("chunk %s at offset %d: %w", dg.Short(), off, err)
	}
	d.cached, d.data = dg, data
	return data, nil
}

// Export is a disk rendered in a format for download.
type Export struct {
	Name     string // a file name for the download
	Format   string
	ETag     string // strong: the same for the same disk and format, always
	ModTime  time.Time
	Size     int64         // -1 when not known in advance (streamed formats)
	Content  io.ReadSeeker // for formats with ranges (raw, vhd); nil otherwise
	WriteTo  func(w io.Writer) error
	Manifest chunks.Manifest
	// ContentMD5 is the base64 MD5 of the whole export, when the disk's checksums
	// are known (raw and vhd): Azure's Content-MD5.
	ContentMD5 string
}

// ExportFormats are the formats a disk can be downloaded in.
var ExportFormats = []string{"raw", "vhd", "vhd-dynamic", "vhdx", "qcow2", "vmdk", "ova"}

// ExportDisk renders one of the actor's disks for download. Raw and fixed VHD are
// random-access (HTTP ranges, resumable); the VHD footer is derived from the disk's
// identity, so two downloads are byte-identical. Fixed VHD exports are Azure-ready
// when the disk's size is.
func (s *Service) ExportDisk(ctx context.Context, actor *hangar.Tenant, name, format string) (*Export, error) {
	dk, err := s.Disk(ctx, actor, name)
	if err != nil {
		return nil, err
	}
	m, err := s.db.Manifest(ctx, dk.ID)
	if err != nil {
		return nil, err
	}
	// Once the answer's status is sent, a failure can only cut the stream short:
	// ask the store first, so that a store that is down gets a clear 503 instead.
	if len(m.Extents) > 0 {
		if _, err := s.chunks.Has(ctx, m.Extents[0].Digest); err != nil {
			return nil, err
		}
	}
	disk := &manifestDisk{ctx: ctx, store: s.chunks, m: m}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", dk.ID, format, m.VirtualSize)
	for _, e := range m.Extents {
		binary.Write(h, binary.BigEndian, e.Offset)
		h.Write(e.Digest[:])
	}
	sum := h.Sum(nil)
	ex := &Export{Format: format, ETag: `"` + hex.EncodeToString(sum[:16]) + `"`, ModTime: dk.CreatedAt, Size: -1, Manifest: m}
	opt := diskfmt.WriteOptions{Timestamp: vhdTimestamp(dk.CreatedAt), UniqueID: vhdUniqueID(dk.ID)}
	switch format {
	case "raw", "":
		ex.Format, ex.Name, ex.Size = "raw", dk.Name+".raw", m.VirtualSize
		ex.Content = io.NewSectionReader(disk, 0, m.VirtualSize)
		if dk.Checksums != nil {
			ex.ContentMD5 = hexToBase64(dk.Checksums.MD5)
		}
	case "vhd":
		if problem := diskfmt.AzureReadyProblem(diskfmt.VHDFixed, m.VirtualSize); problem != "" {
			s.log.Info("exporting a fixed VHD that Azure would refuse", "disk", dk.Name, "problem", problem)
		}
		footer := vhdFooterFor(dk.ID, dk.CreatedAt, m.VirtualSize)
		ex.Name, ex.Size = dk.Name+".vhd", m.VirtualSize+512
		ex.Content = io.NewSectionReader(&withFooter{disk: disk, size: m.VirtualSize, footer: footer[:]}, 0, ex.Size)
		if dk.Checksums != nil {
			ex.ContentMD5 = hexToBase64(dk.Checksums.VHDMD5)
		}
	case "vhd-dynamic":
		ex.Name = dk.Name + ".vhd"
		ex.WriteTo = func(w io.Writer) error { _, err := diskfmt.WriteDynamicVHD(w, disk, opt); return err }
	case "qcow2":
		ex.Name = dk.Name + ".qcow2"
		ex.WriteTo = func(w io.Writer) error { _, err := diskfmt.WriteQCOW2(w, disk, opt); return err }
	case "vhdx":
		ex.Name = dk.Name + ".vhdx"
		ex.WriteTo = func(w io.Writer) error { _, err := diskfmt.WriteVHDX(w, disk, opt); return err }
	case "vmdk":
		ex.Name = dk.Name + ".vmdk"
		vopt := diskfmt.VMDKOptions{WriteOptions: opt, ExtentName: ex.Name}
		ex.WriteTo = func(w io.Writer) error { _, err := diskfmt.WriteStreamVMDK(w, disk, vopt); return err }
	case "ova":
		ex.Name = dk.Name + ".ova"
		oopt := diskfmt.OVAOptions{WriteOptions: opt, Name: dk.Name}
		ex.WriteTo = func(w io.Writer) error { _, err := diskfmt.WriteOVA(w, disk, oopt); return err }
	default:
		return nil, hangar.Errorf(hangar.CodeInvalid, "format %q is not one Hangar exports: use raw, vhd (fixed, Azure-ready), vhd-dynamic, vhdx, qcow2, vmdk (streamOptimized) or ova", format)
	}
	return ex, nil
}

// vhdTimestamp is seconds since 2000-01-01 UTC, as VHD footers count time.
func vhdTimestamp(t time.Time) uint32 {
	return uint32(t.Unix() - time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
}

// withFooter appends a 512-byte footer to a virtual disk.
type withFooter struct {
	disk   io.ReaderAt
	size   int64
	footer []byte
}

func (f *withFooter) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < f.size {
		k, err := f.disk.ReadAt(p[:min(int64(len(p)), f.size-off)], off)
		n += k
		if err != nil && err != io.EOF {
			return n, err
		}
	}
	for n < len(p) {
		pos := off + int64(n) - f.size
		if pos >= int64(len(f.footer)) {
			return n, io.EOF
		}
		n += copy(p[n:], f.footer[pos:])
	}
	return n, nil
}

func hexToBase64(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}
