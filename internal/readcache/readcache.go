// Package readcache is an io.ReaderAt over a source each read of which costs a
// lot whatever its size: a browser's File, which the WebAssembly build of diskfmt
// reads (cmd/diskfmt-wasm), where each Blob.slice().arrayBuffer() crosses to the
// browser's own process and back. diskfmt reads qcow2 and VMDK files a cluster or
// a grain (64 KiB) at a time; read through this package, the clusters of one
// stretch of the file come in one read.
//
// Vocabulary: the file is cut into aligned blocks of BlockSize bytes; a read
// fetches the blocks it touches that are not cached, whole, and the last few
// blocks used are kept.
//
// Invariants: a block is read from the source at most once while it is cached,
// however many goroutines ask for it at once; a failed read is not cached.
package readcache

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// ReadFunc reads the source's bytes [off, end); it may return fewer only at the
// source's end.
type ReadFunc func(off, end int64) ([]byte, error)

// Reader is an io.ReaderAt over a source of Size bytes, safe for concurrent use.
type Reader struct {
	read      ReadFunc
	size      int64
	blockSize int64
	keep      int

	mu     sync.Mutex
	blocks map[int64]*block
	order  []int64 // cached block indexes, least recently used first
}

type block struct {
	ready chan struct{} // closed when data and err are set
	data  []byte
	err   error
}

// New returns a Reader of a source of size bytes that reads blocks of blockSize
// bytes and keeps the keep last used.
func New(read ReadFunc, size, blockSize int64, keep int) *Reader {
	return &Reader{read: read, size: size, blockSize: blockSize, keep: max(keep, 1), blocks: map[int64]*block{}}
}

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("readcache: negative offset")
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.size {
			return n, io.EOF
		}
		data, err := r.block(pos / r.blockSize)
		if err != nil {
			return n, err
		}
		in := pos % r.blockSize
		if in >= int64(len(data)) {
			return n, fmt.Errorf("readcache: the source gave %d bytes at offset %d, short of its size %d", len(data), pos-in, r.size)
		}
		n += copy(p[n:], data[in:])
	}
	return n, nil
}

// block returns block i's bytes, reading it unless it is cached or being read.
func (r *Reader) block(i int64) ([]byte, error) {
	r.mu.Lock()
	if b, ok := r.blocks[i]; ok {
		r.touch(i)
		r.mu.Unlock()
		<-b.ready
		return b.data, b.err
	}
	b := &block{ready: make(chan struct{})}
	r.blocks[i] = b
	r.order = append(r.order, i)
	if len(r.order) > r.keep {
		delete(r.blocks, r.order[0]) // whoever waits for it keeps its own pointer
		r.order = r.order[1:]
	}
	r.mu.Unlock()

	off := i * r.blockSize
	b.data, b.err = r.read(off, min(off+r.blockSize, r.size))
	close(b.ready)
	if b.err != nil {
		r.mu.Lock()
		if r.blocks[i] == b {
			delete(r.blocks, i)
			r.order = remove(r.order, i)
		}
		r.mu.Unlock()
	}
	return b.data, b.err
}

// touch makes block i the most recently used.
func (r *Reader) touch(i int64) {
	r.order = append(remove(r.order, i), i)
}

func remove(s []int64, v int64) []int64 {
	for j, x := range s {
		if x == v {
			return append(s[:j], s[j+1:]...)
		}
	}
	return s
}
