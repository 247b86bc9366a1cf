package diskfmt

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// clusterKind is what an L2 entry maps a virtual cluster to.
type clusterKind int

const (
	clusterUnallocated clusterKind = iota // reads as zeros (no backing file)
	clusterZero                           // zero flag: reads as zeros
	clusterData                           // stored at a host offset
	clusterCompressed                     // stored compressed (deflate or zstd) at a host offset
)

// clusters is the number of clusters of the virtual disk.
func (q *qcow2) clusters() int64 {
	return (q.size + q.clusterSize - 1) / q.clusterSize
}

// l2Offset returns the L2 table offset of L1 entry i, 0 when the table is
// not allocated, after checking that the table lies inside the file.
func (q *qcow2) l2Offset(i int64) (int64, error) {
	off := int64(q.l1[i] & qcowOffsetMask)
	if off == 0 {
		return 0, nil
	}
	if off%q.clusterSize != 0 || off > q.fileSize-q.clusterSize {
		return 0, qcowError(q.l1Off+8*i, fmt.Sprintf("l1 entry %d", i), "l2 table at offset %d is not a "+
			"cluster-aligned cluster inside the file of %d bytes", off, q.fileSize)
	}
	return off, nil
}

// classify checks L2 entry e of virtual cluster c, found at file offset
// entryOff, and says where its data is. For compressed clusters clen is the
// number of compressed bytes to read (clipped to the end of the file).
func (q *qcow2) classify(e uint64, c, entryOff int64) (kind clusterKind, host, clen int64, err error) {
	field := func() string { return fmt.Sprintf("l2 entry for virtual offset %d", c*q.clusterSize) }
	if e&qcowCompressed != 0 {
		host = int64(e & q.coffMask)
		sectors := int64((e>>q.csizeShift)&q.csizeMask) + 1
		if host >= q.fileSize {
			return 0, 0, 0, qcowError(entryOff, field(), "compressed cluster at offset %d is past the end of the file at %d",
				host, q.fileSize)
		}
		clen = min(sectors*sectorSize-host%sectorSize, q.fileSize-host)
		return clusterCompressed, host, clen, nil
	}
	if e&qcowZeroFlag != 0 {
		return clusterZero, 0, 0, nil
	}
	host = int64(e & qcowOffsetMask)
	if host == 0 {
		return clusterUnallocated, 0, 0, nil
	}
	need := min(q.clusterSize, q.size-c*q.clusterSize)
	if host%q.clusterSize != 0 || host > q.fileSize-need {
		return 0, 0, 0, qcowError(entryOff, field(), "cluster at offset %d is not a cluster-aligned range inside "+
			"the file of %d bytes", host, q.fileSize)
	}
	return clusterData, host, 0, nil
}

// scanL2 reads every allocated L2 table once, checks every entry that maps
// part of the virtual disk, and returns the allocated extents.
func (q *qcow2) scanL2() ([]Extent, error) {
	var exts extentList
	buf := make([]byte, q.clusterSize)
	clusters := q.clusters()
	for i := range int64(len(q.l1)) {
		l2, err := q.l2Offset(i)
		if err != nil {
			return nil, err
		}
		if l2 == 0 {
			continue
		}
		if err := readFull(q.r, buf, l2); err != nil {
			return nil, err
		}
		first := i * q.l2Entries
		for j := range min(q.l2Entries, clusters-first) {
			c := first + j
			kind, _, _, err := q.classify(binary.BigEndian.Uint64(buf[8*j:]), c, l2+8*j)
			if err != nil {
				return nil, err
			}
			if kind == clusterData || kind == clusterCompressed {
				exts.add(c*q.clusterSize, min(q.clusterSize, q.size-c*q.clusterSize))
			}
		}
	}
	return exts.exts, nil
}

// readSpan reads from one cluster.
func (q *qcow2) readSpan(p []byte, off int64) (int, error) {
	c := off >> q.clusterBits
	within := off & (q.clusterSize - 1)
	n := int(min(int64(len(p)), q.clusterSize-within))
	e, entryOff, err := q.l2Entry(c)
	if err != nil {
		return 0, err
	}
	kind, host, clen, err := q.classify(e, c, entryOff)
	if err != nil {
		return 0, err
	}
	switch kind {
	case clusterData:
		if err := readData(q.r, p[:n], host+within, off); err != nil {
			return 0, err
		}
	case clusterCompressed:
		data, err := q.inflated.get(host, func() ([]byte, error) { return q.inflate(host, clen, c) })
		if err != nil {
			return 0, err
		}
		copy(p[:n], data[within:])
	default:
		clear(p[:n])
	}
	return n, nil
}

// l2Entry returns the L2 entry of virtual cluster c and its file offset
// (0, 0 when its L2 table is not allocated).
func (q *qcow2) l2Entry(c int64) (uint64, int64, error) {
	i := c / q.l2Entries
	l2, err := q.l2Offset(i)
	if err != nil || l2 == 0 {
		return 0, 0, err
	}
	table, err := q.l2s.get(l2, func() ([]byte, error) {
		b := make([]byte, q.clusterSize)
		return b, readFull(q.r, b, l2)
	})
	if err != nil {
		return 0, 0, err
	}
	j := c % q.l2Entries
	return binary.BigEndian.Uint64(table[8*j:]), l2 + 8*j, nil
}

// inflate decompresses the cluster of clen bytes at host: raw deflate, or
// with the zstd compression type one zstd frame. The compressed length is
// only known to the sector, so bytes after the deflate stream or the frame
// (the start of the next compressed cluster) are ignored, as qemu does. The
// output is bounded by the cluster size whatever the input claims.
func (q *qcow2) inflate(host, clen, c int64) ([]byte, error) {
	in := make([]byte, clen)
	if err := readFull(q.r, in, host); err != nil {
		return nil, err
	}
	out := make([]byte, q.clusterSize)
	method := "deflate"
	var n int
	var err error
	if q.zstd {
		method = "zstd"
		n, err = unzstd(in, out)
	} else {
		n, err = io.ReadFull(flate.NewReader(bytes.NewReader(in)), out)
	}
	if need := min(q.clusterSize, q.size-c*q.clusterSize); int64(n) < need {
		return nil, qcowError(host, "compressed cluster", "%s data for virtual offset %d gives %d of %d bytes: %v",
			method, c*q.clusterSize, n, need, err)
	}
	return out, nil
}

// tableCacheSize is how many metadata tables (one cluster or grain table
// each, at most 2 MiB) a disk keeps in memory.
const tableCacheSize = 16

// tableCache keeps recently used tables, keyed by file offset. Tables are
// never modified once loaded, so a returned slice stays valid.
type tableCache struct {
	mu   sync.Mutex
	keys [tableCacheSize]int64
	vals [tableCacheSize][]byte
	next int
}

func (t *tableCache) get(off int64, load func() ([]byte, error)) ([]byte, error) {
	t.mu.Lock()
	for i, k := range t.keys {
		if k == off && t.vals[i] != nil {
			v := t.vals[i]
			t.mu.Unlock()
			return v, nil
		}
	}
	t.mu.Unlock()
	v, err := load()
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.keys[t.next], t.vals[t.next] = off, v
	t.next = (t.next + 1) % tableCacheSize
	t.mu.Unlock()
	return v, nil
}

// clusterCache keeps the last decompressed cluster, so that reads smaller
// than a cluster do not decompress it again.
type clusterCache struct {
	mu   sync.Mutex
	key  int64
	data []byte
}

func (c *clusterCache) get(key int64, load func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if c.data != nil && c.key == key {
		d := c.data
		c.mu.Unlock()
		return d, nil
	}
	c.mu.Unlock()
	d, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.key, c.data = key, d
	c.mu.Unlock()
	return d, nil
}
