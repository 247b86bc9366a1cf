package diskfmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Magic numbers at offset 0 (and, for VHD, in the trailing footer).
var (
	qcow2Magic = []byte("QFI\xfb")
	vhdxMagic  = []byte("vhdxfile")
	vmdkMagic  = []byte("KDMV")
	// A VMDK text descriptor, which names the files holding the data.
	vmdkDescriptorMagic = []byte("# Disk DescriptorFile")
	vhdCookie           = []byte("conectix")
)

// Detect looks at content only, never at a file name: offset 0 for QFI\xfb,
// vhdxfile, KDMV (or a VMDK text descriptor) and conectix (a dynamic or differencing VHD, told apart by
// the disk type in the footer copy), then the last 512 bytes for conectix (a
// fixed VHD, whose only footer is at the end), else raw. Detect does not fail
// on short files: a 0-byte or 100-byte file is raw (Open then refuses it).
// It returns an error only when r cannot be read or size is negative.
func Detect(r io.ReaderAt, size int64) (Format, error) {
	if size < 0 {
		return "", &FormatError{Msg: fmt.Sprintf("file size %d is negative", size), Err: ErrFormat}
	}
	head := make([]byte, min(size, footerSize))
	if err := readFull(r, head, 0); err != nil {
		return "", err
	}
	switch {
	case bytes.HasPrefix(head, qcow2Magic):
		return QCOW2, nil
	case bytes.HasPrefix(head, vhdxMagic):
		return VHDX, nil
	case bytes.HasPrefix(head, vmdkMagic), bytes.HasPrefix(head, vmdkDescriptorMagic):
		return VMDK, nil
	}
	if len(head) == footerSize && bytes.HasPrefix(head, vhdCookie) {
		switch vhdDiskType(head) {
		case diskTypeDynamic:
			return VHDDynamic, nil
		case diskTypeDiff:
			return VHDDiff, nil
		}
		// A fixed-type footer at offset 0 is not where a fixed VHD keeps
		// it: look at the end like for any other file.
	}
	if size < footerSize {
		return Raw, nil
	}
	tail := head
	if size > footerSize {
		tail = make([]byte, footerSize)
		if err := readFull(r, tail, size-footerSize); err != nil {
			return "", err
		}
	}
	if !bytes.HasPrefix(tail, vhdCookie) {
		return Raw, nil
	}
	switch vhdDiskType(tail) {
	case diskTypeDynamic:
		return VHDDynamic, nil // its copy at offset 0 is missing: Open says so
	case diskTypeDiff:
		return VHDDiff, nil
	}
	// Disk type 2, or an invalid one that Open reports against the footer.
	return VHDFixed, nil
}

// vhdDiskType reads the disk type field of a 512-byte footer.
func vhdDiskType(footer []byte) uint32 {
	return binary.BigEndian.Uint32(footer[60:64])
}

// readFull reads exactly len(p) bytes at off. Callers have checked the range
// against the file size, so a short read means the file shrank or its stated
// size was wrong; that is reported as io.ErrUnexpectedEOF.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("diskfmt: reading %d bytes at offset %d: %w", len(p), off, err)
}

// sizeString renders a byte count for messages: "10 GiB", "1.5 MiB",
// "1049088 bytes (1.0 MiB)".
func sizeString(n int64) string {
	const units = "KMGTPE"
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, u := float64(n), -1
	for (v >= 1024 || v <= -1024) && u < len(units)-1 {
		v /= 1024
		u++
	}
	unit := units[u : u+1]
	if exact := int64(1) << (10 * (u + 1)); n%exact == 0 {
		return fmt.Sprintf("%d %siB", n/exact, unit)
	}
	return fmt.Sprintf("%d bytes (%.1f %siB)", n, v, unit)
}
