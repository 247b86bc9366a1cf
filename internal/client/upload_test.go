package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangarvm/hangar/internal/api"
	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/store"
)

const testAdminKey = "test-admin-key-0123456789"

// testServer runs the real API on a temporary SQLite database and chunk directory.
func testServer(t testing.TB) *Client {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	backend, err := dirstore.Open(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat := catalog.New(db, &chunks.Store{Backend: backend}, catalog.Config{StagingDir: dir, MaxVirtualSize: 1 << 40}, log)
	if _, err := cat.Bootstrap(ctx, testAdminKey, filepath.Join(dir, "admin.key")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(cat, nil, log, api.Cluster{})) // no VM endpoints are called
	t.Cleanup(srv.Close)
	return New(srv.URL, testAdminKey)
}

// testDisk writes a raw disk of 11 chunks and a bit: chunk 0 and chunk 7 hold
// the same bytes, chunk 3 is allocated but all zeros, chunk 5 has data only in
// its last sector, the short last chunk has data; the rest are holes.
func testDisk(t testing.TB) (path string, content []byte) {
	t.Helper()
	const size = 11*chunks.ChunkSize + 4096
	content = make([]byte, size)
	fill := func(off, n int64, seed byte) {
		for i := range n {
			content[off+i] = byte(i*7) ^ seed
		}
	}
	fill(0, chunks.ChunkSize, 1)
	fill(7*chunks.ChunkSize, chunks.ChunkSize, 1)
	fill(6*chunks.ChunkSize-512, 512, 2)
	fill(11*chunks.ChunkSize+100, 3000, 3)
	path = filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	write := func(off, n int64) {
		if _, err := f.WriteAt(content[off:off+n], off); err != nil {
			t.Fatal(err)
		}
	}
	write(0, chunks.ChunkSize)
	write(3*chunks.ChunkSize, chunks.ChunkSize) // zeros, allocated
	write(6*chunks.ChunkSize-512, 512)
	write(7*chunks.ChunkSize, chunks.ChunkSize)
	write(11*chunks.ChunkSize, 4096)
	return path, content
}

// wantExtents is what chunks.Walk makes of the content: every non-zero chunk.
func wantExtents(content []byte) []chunks.Extent {
	var out []chunks.Extent
	for off := int64(0); off < int64(len(content)); off += chunks.ChunkSize {
		data := content[off:min(off+chunks.ChunkSize, int64(len(content)))]
		if !chunks.IsZero(data) {
			out = append(out, chunks.Extent{Offset: off, Length: int64(len(data)), Digest: sha256.Sum256(data)})
		}
	}
	return out
}

func TestHashDisk(t *testing.T) {
	path, content := testDisk(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := diskfmt.Open(f, int64(len(content)), diskfmt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := wantExtents(content)
	for _, workers := range []int{1, 2, 5} {
		got, err := HashDisk(context.Background(), d, workers)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d workers: %d extents, want %d", workers, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%d workers: extent %d is %+v, want %+v", workers, i, got[i], want[i])
			}
		}
	}
}

type countProgress struct{ total, added int64 }

func (p *countProgress) Start(total int64) { p.total = total }
func (p *countProgress) Add(n int64)       { p.added += n }

func TestUploadDisk(t *testing.T) {
	c := testServer(t)
	ctx := context.Background()
	path, content := testDisk(t)
	want := wantExtents(content)
	var unique int64 // chunk 7 repeats chunk 0: sent once
	for _, e := range want {
		if e.Offset != 7*chunks.ChunkSize {
			unique += e.Length
		}
	}
	for _, conns := range []int{1, 3} {
		p := &countProgress{}
		name := "d" + string(rune('0'+conns))
		dk, st, err := c.UploadDisk(ctx, path, name, UploadOptions{Connections: conns, Progress: p})
		if err != nil {
			t.Fatal(err)
		}
		if dk.VirtualSize != int64(len(content)) || dk.StoredBytes != st.DataBytes || st.DataBytes != 3*chunks.ChunkSize+4096 {
			t.Fatalf("%d connections: disk %+v, stats %+v", conns, dk, st)
		}
		wantSent := unique
		if conns > 1 { // the second upload finds every chunk stored already
			wantSent = 0
		}
		if st.SentBytes != wantSent {
			t.Errorf("%d connections: sent %d bytes, want %d", conns, st.SentBytes, wantSent)
		}
		// Chunks 0, 3, 5, 7 and 11 overlap the allocated extents.
		if p.total != 4*chunks.ChunkSize+4096 || p.added != p.total {
			t.Errorf("%d connections: progress total %d, added %d", conns, p.total, p.added)
		}
	}
	// The stored disk reads back as the file.
	res, err := c.DownloadDisk(ctx, "d1", "raw", filepath.Join(t.TempDir(), "back.raw"), nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, content) {
		t.Error("downloaded disk differs from the uploaded file")
	}
}

// BenchmarkHashDisk measures the read-and-hash stage on a file of 16 non-zero
// chunks in the page cache, with one worker per core.
func BenchmarkHashDisk(b *testing.B) {
	path := filepath.Join(b.TempDir(), "dense.raw")
	data := make([]byte, 16*chunks.ChunkSize)
	for i := range data {
		data[i] = byte(i*131 + i>>13)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	d, err := diskfmt.Open(f, int64(len(data)), diskfmt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := HashDisk(context.Background(), d, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA256 is the single-core rate BenchmarkHashDisk compares with.
func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, chunks.ChunkSize)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		sha256.Sum256(buf)
	}
}
