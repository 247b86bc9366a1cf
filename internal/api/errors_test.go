package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClientGoneIsNoServerError: a request whose client went away is answered
// 499 and logged below warning, not as a 500 internal error.
func TestClientGoneIsNoServerError(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cancel  bool
		err     error
		status  int
		logsErr bool
	}{
		{"client gone", true, fmt.Errorf("reading the chunk: %w", context.Canceled), 499, false},
		{"our own cancellation, client still there", false, context.Canceled, 500, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancel {
				cancel()
			}
			defer cancel()
			r := httptest.NewRequest("PUT", "/v1/uploads/x/chunks/y", nil).WithContext(ctx)
			w := httptest.NewRecorder()
			writeError(w, r, log, tt.err)
			if w.Code != tt.status || strings.Contains(logs.String(), "level=ERROR") != tt.logsErr {
				t.Errorf("status %d, logs %q", w.Code, logs.String())
			}
		})
	}
}

// TestRequestIDs: every answer names its request, an error body carries the same
// ID, an internal error's message points to it (and the log has it), and the
// caller's own request ID comes back only when it is printable.
func TestRequestIDs(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var inner string
	h := WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = RequestID(r.Context())
		writeError(w, r, log, errors.New("disk on fire"))
	}))
	seen := map[string]bool{}
	for _, client := range []string{"my-id-1", "bad\x01id", ""} {
		r := httptest.NewRequest("GET", "/v1/disks", nil)
		if client != "" {
			r.Header.Set("x-ms-client-request-id", client)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		id := w.Header().Get(RequestIDHeader)
		var body errorBody
		json.Unmarshal(w.Body.Bytes(), &body)
		if len(id) != 36 || id != inner || body.Error.RequestID != id || seen[id] {
			t.Fatalf("request ID %q, in the handler %q, in the body %+v (seen before: %v)", id, inner, body.Error, seen[id])
		}
		seen[id] = true
		if !strings.Contains(body.Error.Message, id) || strings.Contains(body.Error.Message, "on fire") || !strings.Contains(logs.String(), id) {
			t.Errorf("internal error says %q; the log: %s", body.Error.Message, logs.String())
		}
		echo := w.Header().Get("x-ms-client-request-id")
		if want := map[string]string{"my-id-1": "my-id-1"}[client]; echo != want {
			t.Errorf("client request ID %q echoed as %q", client, echo)
		}
	}
}
