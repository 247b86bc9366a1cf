package readcache

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// source is a byte slice that counts its reads and can fail them.
type source struct {
	data  []byte
	reads atomic.Int32
	fail  atomic.Bool
}

func (s *source) read(off, end int64) ([]byte, error) {
	s.reads.Add(1)
	if s.fail.Load() {
		return nil, errors.New("the file went away")
	}
	return bytes.Clone(s.data[off:end]), nil
}

func newSource(n int) *source {
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return &source{data: data}
}

func TestReadsMatchTheSource(t *testing.T) {
	src := newSource(10_000)
	r := New(src.read, int64(len(src.data)), 1024, 3)
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		off := rnd.IntN(len(src.data) + 10)
		p := make([]byte, rnd.IntN(3000))
		n, err := r.ReadAt(p, int64(off))
		want := max(0, min(len(p), len(src.data)-off))
		if n != want || n > 0 && !bytes.Equal(p[:n], src.data[off:off+n]) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d bytes of the source", len(p), off, n, err, want)
		}
		if (n < len(p)) != (err == io.EOF) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v: io.EOF exactly when short", len(p), off, n, err)
		}
	}
}

// Small reads of one stretch of the file cost one read of the source per block.
func TestSmallReadsShareABlock(t *testing.T) {
	src := newSource(1 << 20)
	r := New(src.read, 1<<20, 256<<10, 2)
	p := make([]byte, 64<<10)
	for off := int64(0); off < 1<<20; off += int64(len(p)) {
		if _, err := r.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.reads.Load(); n != 4 {
		t.Fatalf("16 reads of 64 KiB read the source %d times, want 4 (one a 256 KiB block)", n)
	}
	// Block 3 is cached, block 0 was evicted (keep 2).
	r.ReadAt(p[:10], 3<<18)
	r.ReadAt(p[:10], 0)
	if n := src.reads.Load(); n != 5 {
		t.Fatalf("the source was read %d times, want 5", n)
	}
}

// Goroutines asking for one block at once read it once.
func TestConcurrentReadsOfABlockReadItOnce(t *testing.T) {
	src := newSource(4096)
	r := New(src.read, 4096, 4096, 1)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			p := make([]byte, 100)
			if n, err := r.ReadAt(p, int64(i*10)); n != 100 || err != nil || !bytes.Equal(p, src.data[i*10:i*10+100]) {
				t.Errorf("ReadAt: %d, %v", n, err)
			}
		})
	}
	wg.Wait()
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("50 concurrent reads of one block read the source %d times", n)
	}
}

// A failed read is not kept: the next read of the block asks the source again.
func TestFailuresAreNotCached(t *testing.T) {
	src := newSource(4096)
	r := New(src.read, 4096, 1024, 4)
	src.fail.Store(true)
	if _, err := r.ReadAt(make([]byte, 10), 0); err == nil {
		t.Fatal("a failed read of the source gave no error")
	}
	src.fail.Store(false)
	p := make([]byte, 10)
	if _, err := r.ReadAt(p, 0); err != nil || !bytes.Equal(p, src.data[:10]) {
		t.Fatalf("after a failure, ReadAt: %v", err)
	}
}

// A source shorter than it said is an error, not a loop or a panic.
func TestShortSource(t *testing.T) {
	short := func(off, end int64) ([]byte, error) { return make([]byte, 10), nil }
	r := New(short, 4096, 1024, 2)
	if _, err := r.ReadAt(make([]byte, 100), 0); err == nil {
		t.Fatal("a short source gave no error")
	}
}
