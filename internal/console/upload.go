package console

import (
	"crypto/subtle"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

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
		files := http.StripPrefix(Prefix+"wasm/", http.FileServerFS(h.wasm))
		for _, f := range wasmFiles {
			m.Handle("GET "+Prefix+"wasm/"+f, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "no-cache")
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

// wasmBuild returns fsys if it holds every one of wasmFiles, else nil.
func wasmBuild(fsys fs.FS) fs.FS {
	for _, f := range wasmFiles {
		if st, err := fs.Stat(fsys, f); err != nil || st.IsDir() || st.Size() == 0 {
			return nil
		}
	}
	return fsys
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
	if !sameOrigin(r) {
		apiRefuse(w, http.StatusForbidden, "Forbidden", "this request was not sent from this console")
		return
	}
	s := h.sessions.fromRequest(r)
	if s == nil {
		apiRefuse(w, http.StatusUnauthorized, "Unauthenticated", "the console session ended: sign in again")
		return
	}
	if t := r.Header.Get(csrfHeader); t == "" || subtle.ConstantTimeCompare([]byte(t), []byte(s.csrf)) != 1 {
		apiRefuse(w, http.StatusForbidden, "Forbidden", "this request does not carry the session's token: reload the page")
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "/v1/uploads"+path, http.MaxBytesReader(w, r.Body, maxProxiedBody))
	if err != nil {
		apiRefuse(w, http.StatusBadRequest, "Invalid", "bad request")
		return
	}
	req.ContentLength = r.ContentLength
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	w.Header().Set("Cache-Control", "no-store")
	h.api.ServeHTTP(w, req)
}

// apiRefuse answers a refused proxied request in the API's error shape.
func apiRefuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// code and msg are constants of this file: nothing to escape.
	w.Write([]byte(`{"error":{"code":"` + code + `","message":"` + msg + `"}}`))
}
