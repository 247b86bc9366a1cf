package client

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// A chunk PUT goes out from the caller's buffer: the retrying transport must not
// read the body into a copy of its own (it did: io.ReadAll, 4 MiB and more per
// chunk). Measured in bytes allocated per PUT, client and test server together.
func TestChunkPUTDoesNotCopyBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := New(srv.URL, "key")
	chunk := make([]byte, 4<<20)
	put := func() {
		if err := c.do(t.Context(), "PUT", "/v1/uploads/u/chunks/x", bytes.NewReader(chunk), nil); err != nil {
			t.Fatal(err)
		}
	}
	put() // connections and pools warm
	const n = 5
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		put()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 1<<20 {
		t.Fatalf("a PUT of a 4 MiB chunk allocated %d bytes: the body was copied", per)
	}
}

// A chunk PUT from a file range sends the range's bytes, and over plain HTTP
// almost all of them by sendfile: only what fills the transport's buffer behind
// the headers may go through Read. A retry (the server answers 503 first) sends
// the same bytes again, rewound, not the rest of the file.
func TestChunkPUTFromFileRange(t *testing.T) {
	data := make([]byte, 12<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	path := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	const off, n = 4 << 20, 4<<20 - 512 // a shorter last chunk, say
	want := sha256.Sum256(data[off : off+n])
	var mu sync.Mutex
	var got [][32]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, sha256.Sum256(b))
		first := len(got) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := New(srv.URL, "key")
	fr, err := openFileRange(path, off, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.do(t.Context(), "PUT", "/v1/uploads/u/chunks/x", fr, nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("the server got %d requests, want 2 (one refused with 503, then the retry)", len(got))
	}
	for i, g := range got {
		if g != want {
			t.Errorf("request %d carried other bytes than the range", i+1)
		}
	}
	if fr.viaRead > 64<<10 {
		t.Errorf("%d of 2 x %d bytes went through Read: the transport did not sendfile the range", fr.viaRead, n)
	}
}
