package diskfmt

import (
	"errors"
	"fmt"
	"io"
)

// Format names a disk image container format.
type Format string

// The formats Detect can report.
const (
	Raw        Format = "raw"
	VHDFixed   Format = "vhd-fixed"
	VHDDynamic Format = "vhd-dynamic"
	VHDDiff    Format = "vhd-differencing"
	VHDX       Format = "vhdx"
	QCOW2      Format = "qcow2"
	VMDK       Format = "vmdk"
)

// Known reports whether f is one of the formats above.
func (f Format) Known() bool {
	switch f {
	case Raw, VHDFixed, VHDDynamic, VHDDiff, VHDX, QCOW2, VMDK:
		return true
	}
	return false
}

// Sentinel errors. Every error Open returns for a bad image is a *FormatError
// wrapping exactly one of them; I/O errors from the io.ReaderAt are wrapped as
// they are.
var (
	// ErrFormat means the image is malformed: a header, table or size is wrong.
	ErrFormat = errors.New("diskfmt: invalid disk image")
	// ErrUnsupported means the image was recognised but is refused: a
	// differencing disk without a chosen parent, a format or feature this
	// package does not read.
	ErrUnsupported = errors.New("diskfmt: unsupported disk image")
	// ErrTooLarge means the virtual size is above Options.MaxVirtualSize.
	ErrTooLarge = errors.New("diskfmt: virtual size above limit")
)

// FormatError says at which byte offset which field was wrong.
//
// Field names the structure or field as the format's specification names it
// ("footer", "dynamic header", "bat entry 7"); Offset is where that structure
// or field starts in the file. Msg says what is wrong and, where it can, what
// to do about it. Err is ErrFormat, ErrUnsupported or ErrTooLarge.
type FormatError struct {
	Format Format
	Offset int64
	Field  string
	Msg    string
	Err    error
}

// Error gives a lower-case message such as
// "vhd footer at offset 1048576: checksum 0x1234 does not match computed 0x5678".
// When Field is empty the message concerns the whole file and reads
// "<format>: <msg>".
func (e *FormatError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Format.family(), e.Msg)
	}
	return fmt.Sprintf("%s %s at offset %d: %s", e.Format.family(), e.Field, e.Offset, e.Msg)
}

// Unwrap returns the sentinel (ErrFormat when Err is nil).
func (e *FormatError) Unwrap() error {
	if e.Err == nil {
		return ErrFormat
	}
	return e.Err
}

// family is the short name used at the start of error messages.
func (f Format) family() string {
	switch f {
	case Raw:
		return "raw image"
	case VHDFixed, VHDDynamic, VHDDiff:
		return "vhd"
	case VHDX, QCOW2, VMDK:
		return string(f)
	}
	return "disk image"
}

// errorf builds a *FormatError wrapping ErrFormat.
func errorf(f Format, off int64, field, format string, args ...any) error {
	return &FormatError{Format: f, Offset: off, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrFormat}
}

// defaultMaxVirtualSize is the limit used when Options.MaxVirtualSize is 0.
const defaultMaxVirtualSize int64 = 4 << 40

// Options tune Open.
type Options struct {
	// MaxVirtualSize bounds the virtual disk size. 0 (or a negative value)
	// means defaultMaxVirtualSize, 4 TiB. Larger virtual sizes are refused
	// with ErrTooLarge.
	MaxVirtualSize int64
}

func (o Options) maxVirtualSize() int64 {
	if o.MaxVirtualSize <= 0 {
		return defaultMaxVirtualSize
	}
	return o.MaxVirtualSize
}

// checkVirtualSize refuses sizes that are not positive, not whole sectors, or
// above the limit. field and off locate the value in the file.
func (o Options) checkVirtualSize(f Format, off int64, field string, size int64) error {
	if size <= 0 {
		return errorf(f, off, field, "virtual size is %d bytes; a disk must hold at least one 512-byte sector", size)
	}
	if max := o.maxVirtualSize(); size > max {
		return &FormatError{Format: f, Offset: off, Field: field, Err: ErrTooLarge,
			Msg: fmt.Sprintf("virtual size %s is above the limit of %s", sizeString(size), sizeString(max))}
	}
	if size%sectorSize != 0 {
		return errorf(f, off, field, "virtual size %d bytes is not a whole number of 512-byte sectors", size)
	}
	return nil
}

// Extent is a range of the virtual disk, in bytes.
type Extent struct{ Offset, Length int64 }

// Disk is an opened image: a virtual disk of VirtualSize bytes. Reads of
// ranges outside Extents return zeros without touching the file. ReadAt never
// reads past VirtualSize (io.EOF like os.File). ReadAt is safe for concurrent
// use.
type Disk interface {
	io.ReaderAt
	Format() Format
	VirtualSize() int64
	// Extents lists the allocated ranges, sorted, non-overlapping, merged
	// where adjacent. The caller may modify the returned slice.
	Extents() []Extent
}

// Open detects the format and opens it. It validates every header and table
// before returning. size is the size of the file r reads; if r is an *os.File,
// Open may move its file offset (it is put back) to find holes.
func Open(r io.ReaderAt, size int64, opt Options) (Disk, error) {
	f, err := Detect(r, size)
	if err != nil {
		return nil, err
	}
	switch f {
	case Raw:
		return openRaw(r, size, opt)
	case VHDFixed:
		return openFixedVHD(r, size, opt)
	case VHDDynamic:
		return openDynamicVHD(r, size, opt)
	case VHDDiff:
		return openDiffVHD(r, size, opt)
	case QCOW2:
		return openQCOW2(r, size, opt)
	case VMDK:
		return openVMDK(r, size, opt)
	case VHDX:
		return openVHDX(r, size, opt)
	}
	return nil, fmt.Errorf("diskfmt: internal error: no reader for format %q", f)
}
