package client

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
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
