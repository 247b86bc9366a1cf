package console

import (
	"crypto/subtle"
	"net/http"
	"net/url"
)

// The import page's script reaches the API's import from a URL through the
// console, as the upload script reaches the upload routes (upload.go): the
// request is the API's own, passed on in process with the session's key, and its
// answer (the NDJSON progress stream, or an error) is the API's. The form without
// a script is still the page's action (importDisk).

// importAPIPattern is the one API route the import script reaches:
// /console/api/disks/NAME/import is POST /v1/disks/NAME/import.
const importAPIPattern = "POST " + Prefix + "api/disks/{name}/import"

// maxImportBody bounds the import request passed on: a URL and a digest (the
// API bounds a URL at a few kilobytes and says so).
const maxImportBody = 64 << 10

func (h *Handler) importProxy(w http.ResponseWriter, r *http.Request) {
	h.proxyAPI(w, r, "/v1/disks/"+url.PathEscape(r.PathValue("name"))+"/import", maxImportBody)
}

// proxyAPI passes one request of a console script to the API route path with
// the session's key. It needs the session, this origin and the session's CSRF
// token in the X-Hangar-CSRF header (which a form on another site cannot set);
// its refusals have the API's error shape, so the script reads one kind of
// answer. The answer is written as the API writes it, flushes included, so a
// stream reaches the browser as it comes.
func (h *Handler) proxyAPI(w http.ResponseWriter, r *http.Request, path string, maxBody int64) {
	if !sameOrigin(r) {
		apiRefuse(w, http.StatusForbidden, "Forbidden", "this request was not sent from this console")
		return
	}
	s, err := h.sessions.fromRequest(r)
	if err != nil {
		h.log.Error("console: reading a session", "err", err)
		apiRefuse(w, http.StatusInternalServerError, "Internal", "internal error")
		return
	}
	if s == nil {
		apiRefuse(w, http.StatusUnauthorized, "Unauthenticated", "the console session ended: sign in again")
		return
	}
	if t := r.Header.Get(csrfHeader); t == "" || subtle.ConstantTimeCompare([]byte(t), []byte(s.csrf)) != 1 {
		apiRefuse(w, http.StatusForbidden, "Forbidden", "this request does not carry the session's token: reload the page")
		return
	}
	// The request's context is the browser's: leaving the page ends the
	// request, and the API then cancels what it was doing (an import leaves no
	// disk).
	req, err := http.NewRequestWithContext(r.Context(), r.Method, path, http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		apiRefuse(w, http.StatusBadRequest, "Invalid", "bad request")
		return
	}
	req.ContentLength = r.ContentLength
	for _, k := range []string{"Content-Type", "Accept"} {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	w.Header().Set("Cache-Control", "no-store")
	h.api.ServeHTTP(w, req)
}
