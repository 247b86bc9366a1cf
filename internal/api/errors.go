package api

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/hangarvm/hangar/internal/hangar"
)

// statusOf maps error codes to HTTP statuses: the one place where this is decided.
func statusOf(code hangar.Code) int {
	switch code {
	case hangar.CodeInvalid, hangar.CodeInvalidDisk:
		return http.StatusBadRequest
	case hangar.CodeUnauthenticated:
		return http.StatusUnauthorized
	case hangar.CodeForbidden:
		return http.StatusForbidden
	case hangar.CodeNotFound, hangar.CodeDiskNotFound, hangar.CodeImageNotFound, hangar.CodeTenantNotFound, hangar.CodeUploadNotFound:
		return http.StatusNotFound
	case hangar.CodeConflict, hangar.CodeInUse, hangar.CodeTermsNotAccepted:
		return http.StatusConflict
	case hangar.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case hangar.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON error document: {"error":{"code":...,"message":...}}.
type errorBody struct {
	Error hangar.Error `json:"error"`
}

// writeError answers with err's code and user-safe message. Errors without a code are
// internal: the user gets "internal error", the operator gets the details in the log.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := hangar.ErrorCode(err)
	if code == hangar.CodeInternal {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, statusOf(code), errorBody{Error: hangar.Error{Code: code, Message: hangar.ErrorMessage(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
