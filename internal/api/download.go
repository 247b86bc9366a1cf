package api

import (
	"net/http"
	"strconv"

	"github.com/hangarvm/hangar/internal/catalog"
)

// diskContent is a disk download: octet-stream, with ranges for raw and fixed VHD.
type diskContent struct {
	ex *catalog.Export
}

func (d diskContent) respond(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+d.ex.Name+`"`)
	w.Header().Set("ETag", d.ex.ETag)
	w.Header().Set("X-Hangar-Format", d.ex.Format)
	if d.ex.Content != nil {
		if d.ex.ContentMD5 != "" && r.Header.Get("Range") == "" {
			w.Header().Set("Content-MD5", d.ex.ContentMD5)
		}
		// ServeContent answers Range and If-Range requests against the ETag.
		http.ServeContent(w, r, d.ex.Name, d.ex.ModTime, d.ex.Content)
		return
	}
	w.Header().Set("X-Hangar-Virtual-Size", strconv.FormatInt(d.ex.Manifest.VirtualSize, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if err := d.ex.WriteTo(w); err != nil {
		// The status line is gone: cut the stream so the client sees a short body.
		panic(http.ErrAbortHandler)
	}
}
