package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// errorBody is the JSON error document: {"error":{"code":...,"message":...}}.
type errorBody struct {
	Error hangar.Error `json:"error"`
}

// writeError answers with err's code and user-safe message. Errors without a code are
// internal: the user gets "internal error", the operator gets the details in the log.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := hangar.ErrorCode(err)
	if code == hangar.CodeInternal && r.Context().Err() != nil &&
		(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The client went away (or gave up): not a server error. 499 is what
		// nginx logs for it; nobody reads the answer.
		log.Debug("client went away", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	if code == hangar.CodeInternal {
		if msg := unavailable(err); msg != "" {
			log.Warn("backend unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
			w.Header().Set("Retry-After", "2")
			err = hangar.Errorf(hangar.CodeUnavailable, "%s", msg)
			code = hangar.CodeUnavailable
		}
	}
	if code == hangar.CodeInternal {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "requestId", RequestID(r.Context()), "err", err)
	}
	writeJSON(w, code.HTTPStatus(), errorBody{Error: PublicError(r.Context(), err)})
}

// PublicError is what a client is told of err: its code, its user-safe message
// and the request's ID. An internal error's message only points to the log.
func PublicError(ctx context.Context, err error) hangar.Error {
	id := RequestID(ctx)
	e := hangar.Error{Code: hangar.ErrorCode(err), Message: hangar.ErrorMessage(err), RequestID: id}
	if e.Code == hangar.CodeInternal && id != "" {
		e.Message = fmt.Sprintf("internal error: the server's log has the details under request ID %s; quote it when reporting this", id)
	}
	return e
}

// statusClientClosed is nginx's "client closed request", counted apart from
// server errors.
const statusClientClosed = 499

// unavailable says which backend an error shows to be down for now, or "" when the
// error is not of that kind: the user is told to retry rather than that Hangar broke.
func unavailable(err error) string {
	switch {
	case errors.Is(err, chunks.ErrUnavailable):
		return "the chunk store is unavailable right now; nothing was lost: retry in a few seconds (an interrupted upload resumes where it stopped)"
	case store.IsUnavailable(err):
		return "the metadata database is unavailable right now; nothing was lost: retry in a few seconds"
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
