package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

// A Hangar error document keeps its code; an answer without one (a proxy's page)
// gets the code of its status, so the CLI can still tell not found from a down server.
func TestErrorCodes(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		want   hangar.Code
	}{
		{404, `{"error":{"code":"ImageNotFound","message":"image web not found"}}`, hangar.CodeImageNotFound},
		{409, `{"error":{"code":"ResourceInUse","message":"in use"}}`, hangar.CodeInUse},
		{404, "<html>not here</html>", hangar.CodeNotFound},
		{401, "", hangar.CodeUnauthenticated},
		{403, "denied", hangar.CodeForbidden},
		{409, "", hangar.CodeConflict},
		{412, "", hangar.CodePreconditionFailed},
		{502, "<html>bad gateway</html>", hangar.CodeUnavailable},
		{503, "", hangar.CodeUnavailable},
		{500, "oops", hangar.CodeInternal},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "0") // 502 and 503 are retried: at once
			w.WriteHeader(tt.status)
			w.Write([]byte(tt.body))
		}))
		_, err := New(srv.URL, "k").Whoami(context.Background())
		srv.Close()
		if got := hangar.ErrorCode(err); got != tt.want {
			t.Errorf("%d %q: code %s (%v), want %s", tt.status, tt.body, got, err, tt.want)
		}
	}
}
