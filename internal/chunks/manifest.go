package chunks

import "fmt"

// ChunkSize is the size of every chunk but a disk's last one.
//
// 4 MiB: a 4 TiB disk has at most a million chunks (a manifest that fits a database
// comfortably), each HTTP request carries enough bytes to amortize its cost over
// loopback and real networks, and hashing one chunk takes a few milliseconds, so work
// spreads evenly over cores. Smaller chunks would dedup scattered small writes a
// little better at the cost of four times the rows and requests. It is a multiple of
// every cluster and block size the supported formats use below 4 MiB, so a format's
// allocation unit never straddles two chunks needlessly.
const ChunkSize = 4 << 20

// Extent is one stored chunk of a disk: Length bytes at Offset whose content has Digest.
type Extent struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Digest Digest `json:"sha256"`
}

// Manifest describes a disk: its virtual size and its non-zero chunks in offset order.
type Manifest struct {
	VirtualSize int64    `json:"virtualSize"`
	Extents     []Extent `json:"extents"`
}

// ChunkLen returns the length of the chunk at offset off of a disk of virtualSize bytes.
func ChunkLen(off, virtualSize int64) int64 {
	return min(ChunkSize, virtualSize-off)
}

// Validate checks that every extent is a whole chunk at a chunk boundary, inside the
// disk, in strictly increasing order. It bounds nothing else: the caller limits the
// virtual size.
func (m *Manifest) Validate() error {
	if m.VirtualSize <= 0 {
		return fmt.Errorf("virtual size %d must be positive", m.VirtualSize)
	}
	next := int64(0)
	for i, e := range m.Extents {
		switch {
		case e.Offset < next:
			return fmt.Errorf("extent %d at offset %d is out of order or repeated", i, e.Offset)
		case e.Offset%ChunkSize != 0:
			return fmt.Errorf("extent %d at offset %d is not aligned to the chunk size %d", i, e.Offset, ChunkSize)
		case e.Offset >= m.VirtualSize:
			return fmt.Errorf("extent %d at offset %d lies beyond the virtual size %d", i, e.Offset, m.VirtualSize)
		case e.Length != ChunkLen(e.Offset, m.VirtualSize):
			return fmt.Errorf("extent %d at offset %d has length %d, want %d", i, e.Offset, e.Length, ChunkLen(e.Offset, m.VirtualSize))
		case e.Digest.IsZero():
			return fmt.Errorf("extent %d at offset %d has no digest", i, e.Offset)
		}
		next = e.Offset + e.Length
	}
	return nil
}

// StoredBytes is the number of bytes the manifest's chunks hold.
func (m *Manifest) StoredBytes() int64 {
	var n int64
	for _, e := range m.Extents {
		n += e.Length
	}
	return n
}
