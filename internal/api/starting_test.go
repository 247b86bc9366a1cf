package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

func TestStartingAnswers503UntilReady(t *testing.T) {
	var s Starting
	for _, path := range []string{"/healthz", "/v1/images", "/v1/uploads/x/chunks/y"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("%s while starting: %d, Retry-After %q; want 503 with Retry-After", path, rec.Code, rec.Header().Get("Retry-After"))
		}
		var body errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != hangar.CodeUnavailable || body.Error.Message == "" {
			t.Fatalf("%s while starting: body %q (%v), want a ServiceUnavailable error with a message", path, rec.Body, err)
		}
	}
	s.Ready(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("after Ready: %d, want the real handler's answer", rec.Code)
	}
}
