package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// csrfHeader carries the session's CSRF token on the upload script's requests.
const csrfHeader = "X-Hangar-CSRF"

// uploadPrefix is where the upload script reaches the API's upload routes with the
// session: /console/api/uploads... is /v1/uploads... with the session's key.
const uploadPrefix = Prefix + "api/uploads"

func (h *Handler) uploadRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"upload", h.page(h.uploadPage))
	if h.wasm != nil {
		files := http.StripPrefix(Prefix+"wasm/", http.FileServerFS(h.wasm.fsys))
		for _, f := range wasmFiles {
			etag, gz := h.wasm.etags[f], h.wasm.gzipped[f]
			m.Handle("GET "+Prefix+"wasm/"+f, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Revalidated at each use, answered 304 while unchanged (the file
				// server compares If-None-Match with this ETag): 5 MiB, asked for
				// by each of the upload's workers.
				w.Header().Set("Cache-Control", "no-cache")
				w.Header().Add("Vary", "Accept-Encoding")
				if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
					// Gzipped, diskfmt.wasm is a quarter of its size.
					data, err := gz()
					if err == nil {
						w.Header().Set("ETag", strings.TrimSuffix(etag, `"`)+`-gzip"`)
						w.Header().Set("Content-Encoding", "gzip")
						http.ServeContent(w, r, f, time.Time{}, bytes.NewReader(data))
						return
					}
				}
				w.Header().Set("ETag", etag)
				files.ServeHTTP(w, r)
			}))
		}
	}
	// Exactly the API's upload routes, and nothing else, are reachable from the
	// browser with the session: the API applies every rule (names, sizes, quotas,
	// digests, who owns the upload).
	for _, r := range []struct{ method, path string }{
		{"POST", ""}, {"GET", "/{id}"}, {"DELETE", "/{id}"}, {"POST", "/{id}/missing"},
		{"PUT", "/{id}/chunks/{sha256}"}, {"POST", "/{id}/commit"},
	} {
		m.HandleFunc(r.method+" "+uploadPrefix+r.path, h.uploadProxy(r.path))
	}
}

// wasmFiles are the WebAssembly build of diskfmt (cmd/diskfmt-wasm) and the Go
// runtime's loader it needs, which scripts/build-wasm.sh writes, served under
// /console/wasm/.
var wasmFiles = []string{"diskfmt.wasm", "wasm_exec.js"}

// wasmBuild is the browser's diskfmt of this build: wasmFiles, with their ETags.
type wasmBuild struct {
	fsys  fs.FS
	etags map[string]string // file → strong ETag of its content
	// gzipped compresses a file once, when a browser first asks for it.
	gzipped map[string]func() ([]byte, error)
}

// loadWasm returns the build in fsys, or nil if fsys lacks one of wasmFiles (a
// hangar built without scripts/build-wasm.sh).
func loadWasm(fsys fs.FS) *wasmBuild {
	b := &wasmBuild{fsys: fsys, etags: map[string]string{}, gzipped: map[string]func() ([]byte, error){}}
	for _, f := range wasmFiles {
		data, err := fs.ReadFile(fsys, f)
		if err != nil || len(data) == 0 {
			return nil
		}
		sum := sha256.Sum256(data)
		b.etags[f] = `"` + hex.EncodeToString(sum[:16]) + `"`
		b.gzipped[f] = sync.OnceValues(func() ([]byte, error) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			if _, err := zw.Write(data); err != nil {
				return nil, err
			}
			err := zw.Close()
			return buf.Bytes(), err
		})
	}
	return b
}

// uploadView is the data of the upload page.
type uploadView struct {
	ChunkSize int64
	// Formats: whether this build has diskfmt for the browser (qcow2, VHDX, VMDK,
	// dynamic VHD); without it, raw and fixed VHD only.
	Formats bool
	// MaxMissing is how many digests one missing-chunks question may carry.
	MaxMissing int
}

func (h *Handler) uploadPage(c *call) error {
	return c.render("upload", "Upload a disk", "disks", uploadView{ChunkSize: chunks.ChunkSize,
		Formats: h.wasm != nil, MaxMissing: hangar.MaxMissingDigests})
}

// maxProxiedBody bounds what the proxy reads of one request: a chunk, with room
// for the API to give its own answer to one that is too big.
const maxProxiedBody = chunks.ChunkSize + 1<<20

// uploadProxy passes one request of the upload script to the API's upload route
// /v1/uploads+path (whose {id} and {sha256} are the request's) with the session's
// key. It needs the session, this origin and the session's CSRF token in a header
// (a form on another site cannot set one); the answer, errors included, is the
// API's JSON.
func (h *Handler) uploadProxy(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.proxyUpload(w, r, strings.NewReplacer("{id}", url.PathEscape(r.PathValue("id")),
			"{sha256}", url.PathEscape(r.PathValue("sha256"))).Replace(path))
	}
}

func (h *Handler) proxyUpload(w http.ResponseWriter, r *http.Request, path string) {
	h.proxyAPI(w, r, "/v1/uploads"+path, maxProxiedBody)
}

// apiRefuse answers a refused proxied request in the API's error shape.
func apiRefuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// code and msg are constants of this file: nothing to escape.
	w.Write([]byte(`{"error":{"code":"` + code + `","message":"` + msg + `"}}`))
}
