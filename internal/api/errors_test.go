package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
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
