package isofs

import (
	"encoding/binary"
	"io"
	"strings"
)

// readSystemUse reads the SUSP entries of the directory record b (and of the
// continuation areas it points at) into rec: the Rock Ridge name, and whether any
// Rock Ridge entry is there. It is lenient, as Linux is: a malformed entry or a
// continuation area outside the image ends the reading, keeping what was read.
func readSystemUse(r io.ReaderAt, size int64, b []byte, rec *record) {
	if rec.suOffset >= len(b) {
		return
	}
	su := b[rec.suOffset:]
	var name []byte
	nameDone := false
	for hops := 0; ; hops++ {
		next, stop := walkEntries(su, rec, &name, &nameDone)
		if stop || next == nil || hops == maxContinuations {
			break
		}
		su = readContinuation(r, size, *next)
		if su == nil {
			break
		}
	}
	if n := string(name); n != "." && n != ".." && !strings.ContainsAny(n, "/\x00") {
		rec.rrName = n
	}
}

// continuation is the target of a "CE" entry.
type continuation struct {
	block, offset, length int64
}

// walkEntries reads the entries of one System Use field or continuation area. It
// returns the continuation to read next, if any, and whether an "ST" entry ended the
// System Use area.
func walkEntries(su []byte, rec *record, name *[]byte, nameDone *bool) (*continuation, bool) {
	var next *continuation
	for len(su) >= 4 {
		n := int(su[2])
		if n < 4 || n > len(su) {
			break
		}
		e := su[:n]
		su = su[n:]
		switch string(e[:2]) {
		case "NM":
			rec.hasRR = true
			if n < 5 || *nameDone || e[4]&0x06 != 0 { // CURRENT or PARENT: no name
				continue
			}
			*name = append(*name, e[5:]...)
			if len(*name) > maxNameLen {
				*name = (*name)[:maxNameLen]
			}
			*nameDone = e[4]&0x01 == 0 // no CONTINUE flag: the name is complete
		case "PX", "PN", "SL", "CL", "PL", "RE", "TF", "SF", "RR":
			rec.hasRR = true
		case "CE":
			if n >= 28 {
				next = &continuation{
					block:  int64(binary.LittleEndian.Uint32(e[4:])),
					offset: int64(binary.LittleEndian.Uint32(e[12:])),
					length: int64(binary.LittleEndian.Uint32(e[20:])),
				}
			}
		case "ST":
			return nil, true
		}
	}
	return next, false
}

// readContinuation reads a continuation area of at most one sector, or returns nil.
func readContinuation(r io.ReaderAt, size int64, c continuation) []byte {
	off := c.block*SectorSize + c.offset
	if c.length <= 0 || c.length > SectorSize || c.offset >= SectorSize || off < 0 || off > size-c.length {
		return nil
	}
	buf := make([]byte, c.length)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil
	}
	return buf
}
