package api

import (
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/hangar"
)

// ndjson is the media type of an import's progress stream.
const ndjson = "application/x-ndjson"

// importAnswer is the answer to an import from a URL. The source is already open
// (StartURLImport checked everything it could, so a refusal is a plain error answer).
// A client that accepts application/x-ndjson gets 200 and a stream of
// DiskImportEvent lines: progress while the server fetches and stores, then the disk
// or the error. Any other client waits and gets 201 and the disk, or the error.
type importAnswer struct {
	imp *catalog.URLImport
	log *slog.Logger
}

// progressEvery bounds how often a progress line is sent.
const progressEvery = 250 * time.Millisecond

func wantsNDJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == ndjson {
			return true
		}
	}
	return false
}

func (a importAnswer) respond(w http.ResponseWriter, r *http.Request) {
	if !wantsNDJSON(r) {
		dk, err := a.imp.Run(r.Context(), nil)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		writeJSON(w, http.StatusCreated, dk)
		return
	}
	w.Header().Set("Content-Type", ndjson)
	w.Header().Set("X-Accel-Buffering", "no") // nginx: pass the lines on as they come
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(ev hangar.DiskImportEvent) {
		enc.Encode(ev)
		rc.Flush()
	}
	var last time.Time
	phase := "fetching"
	send(hangar.DiskImportEvent{Progress: &hangar.DiskImportProgress{Phase: phase, Total: a.imp.Size()}})
	dk, err := a.imp.Run(r.Context(), func(p hangar.DiskImportProgress) {
		// A new phase and the end of one are always told; the rest a few times a second.
		if p.Phase == phase && p.Bytes != p.Total && time.Since(last) < progressEvery {
			return
		}
		phase, last = p.Phase, time.Now()
		send(hangar.DiskImportEvent{Progress: &p})
	})
	if err != nil {
		e := PublicError(r.Context(), err)
		if e.Code == hangar.CodeInternal {
			a.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "requestId", RequestID(r.Context()), "err", err)
		}
		send(hangar.DiskImportEvent{Error: &e})
		return
	}
	send(hangar.DiskImportEvent{Disk: &dk})
}
