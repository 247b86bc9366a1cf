package diskfmt

import (
	"encoding/binary"
	"io"
)

// Parameters of the qcow2 images WriteQCOW2 writes: version 3, 64 KiB
// clusters (qemu's default), 16-bit refcounts.
const (
	wqClusterBits   = 16
	wqCluster       = 1 << wqClusterBits
	wqL2Entries     = wqCluster / 8
	wqRefcountOrder = 4
	wqRefsPerBlock  = wqCluster / 2
	qcowCopied      = 1 << 63 // refcount is exactly 1
)

// qcowLayout is where WriteQCOW2 puts everything, in clusters.
type qcowLayout struct {
	clusters   int64 // of the virtual disk
	l1Size     int64 // entries
	l1Clusters int64
	l2Tables   int64
	data       int64 // allocated data clusters
	rtClusters int64 // refcount table
	rbClusters int64 // refcount blocks
	// first cluster of each area, in file order
	rtStart, l1Start, rbStart, l2Start, dataStart int64
	total                                         int64
}

// newQCOWLayout computes the layout for a disk whose non-zero clusters are
// set (count of them).
func newQCOWLayout(size int64, set bitset, count int64) *qcowLayout {
	l := &qcowLayout{clusters: unitsOf(size, wqCluster), data: count}
	l.l1Size = unitsOf(l.clusters, wqL2Entries)
	l.l1Clusters = unitsOf(l.l1Size*8, wqCluster)
	for i := range l.l1Size {
		if l.hasData(set, i) {
			l.l2Tables++
		}
	}
	// The refcount structures count themselves: iterate to a fixed point.
	meta := 1 + l.l1Clusters + l.l2Tables + l.data
	for {
		rb := unitsOf(meta+l.rbClusters+l.rtClusters, wqRefsPerBlock)
		rt := unitsOf(rb*8, wqCluster)
		if rb == l.rbClusters && rt == l.rtClusters {
			break
		}
		l.rbClusters, l.rtClusters = rb, rt
	}
	l.rtStart = 1
	l.l1Start = l.rtStart + l.rtClusters
	l.rbStart = l.l1Start + l.l1Clusters
	l.l2Start = l.rbStart + l.rbClusters
	l.dataStart = l.l2Start + l.l2Tables
	l.total = l.dataStart + l.data
	return l
}

// hasData reports whether L2 table i maps any non-zero cluster.
func (l *qcowLayout) hasData(set bitset, i int64) bool {
	for c := i * wqL2Entries; c < min((i+1)*wqL2Entries, l.clusters); c++ {
		if set.has(c) {
			return true
		}
	}
	return false
}

// WriteQCOW2 writes d as a qcow2 version 3 image with 64 KiB clusters and
// returns the number of bytes written. Only clusters holding non-zero data
// are allocated; d is read twice (once to find them). Laid out as header,
// refcount table, L1 table, refcount blocks, L2 tables, data clusters in
// virtual order; every refcount is 1.
func WriteQCOW2(w io.Writer, d Disk, opt WriteOptions) (int64, error) {
	d = withProgress(d, opt.Progress)
	size := d.VirtualSize()
	set, count, err := nonZeroUnits(d, wqCluster)
	if err != nil {
		return 0, err
	}
	l := newQCOWLayout(size, set, count)
	c := &countingWriter{w: w}
	c.Write(l.header(size))
	c.pad(wqCluster)
	l.writeRefcountTable(c)
	l.writeL1(c, set)
	l.writeRefcountBlocks(c)
	l.writeL2(c, set)
	buf := make([]byte, wqCluster)
	for u := int64(0); u < l.clusters && c.err == nil; u++ {
		if set.has(u) {
			if err := writeUnit(c, d, buf, u); err != nil {
				return c.n, err
			}
		}
	}
	return c.n, c.err
}

func (l *qcowLayout) header(size int64) []byte {
	be := binary.BigEndian
	h := make([]byte, qcowV3HeaderLen+8) // header, then the end-of-extensions marker
	copy(h, qcow2Magic)
	be.PutUint32(h[qhVersion:], 3)
	be.PutUint32(h[qhClusterBits:], wqClusterBits)
	be.PutUint64(h[qhSize:], uint64(size))
	be.PutUint32(h[qhL1Size:], uint32(l.l1Size))
	be.PutUint64(h[qhL1Offset:], uint64(l.l1Start*wqCluster))
	be.PutUint64(h[qhRefcountOffset:], uint64(l.rtStart*wqCluster))
	be.PutUint32(h[qhRefcountClus:], uint32(l.rtClusters))
	be.PutUint32(h[qhRefcountOrder:], wqRefcountOrder)
	be.PutUint32(h[qhHeaderLength:], qcowV3HeaderLen)
	return h
}

// writeTable writes n 8-byte entries given by entry, padded to a cluster.
func writeTable(c *countingWriter, n int64, entry func(i int64) uint64) {
	buf := make([]byte, 0, wqCluster)
	for i := range n {
		buf = binary.BigEndian.AppendUint64(buf, entry(i))
		if len(buf) == cap(buf) {
			c.Write(buf)
			buf = buf[:0]
		}
	}
	c.Write(buf)
	c.pad(wqCluster)
}

func (l *qcowLayout) writeRefcountTable(c *countingWriter) {
	writeTable(c, l.rbClusters, func(i int64) uint64 { return uint64((l.rbStart + i) * wqCluster) })
}

func (l *qcowLayout) writeL1(c *countingWriter, set bitset) {
	next := l.l2Start
	writeTable(c, l.l1Size, func(i int64) uint64 {
		if !l.hasData(set, i) {
			return 0
		}
		next++
		return uint64((next-1)*wqCluster) | qcowCopied
	})
}

// writeRefcountBlocks gives every cluster of the file a refcount of 1.
func (l *qcowLayout) writeRefcountBlocks(c *countingWriter) {
	buf := make([]byte, wqCluster)
	for b := range l.rbClusters {
		clear(buf)
		for j := int64(0); j < wqRefsPerBlock && b*wqRefsPerBlock+j < l.total; j++ {
			binary.BigEndian.PutUint16(buf[2*j:], 1)
		}
		c.Write(buf)
	}
}

func (l *qcowLayout) writeL2(c *countingWriter, set bitset) {
	next := l.dataStart
	for i := range l.l1Size {
		if !l.hasData(set, i) {
			continue
		}
		writeTable(c, wqL2Entries, func(j int64) uint64 {
			if cl := i*wqL2Entries + j; cl >= l.clusters || !set.has(cl) {
				return 0
			}
			next++
			return uint64((next-1)*wqCluster) | qcowCopied
		})
	}
}
