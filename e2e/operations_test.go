package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRequestIDsAndLogLevel: every answer names its request (x-ms-request-id),
// the CLI's JSON error carries the same ID for the user to quote, and at
// --log-level warn the server writes no line per request.
func TestRequestIDsAndLogLevel(t *testing.T) {
	s := startServer(t, "--log-level", "warn")
	alice := s.tenant("alice")
	_, errOut, err := s.hangar(alice, "disk", "show", "nope", "-o", "json")
	var doc struct {
		Error struct{ Code, Message, RequestID string }
	}
	if err == nil || json.Unmarshal([]byte(errOut), &doc) != nil || doc.Error.Code != "DiskNotFound" || len(doc.Error.RequestID) != 36 {
		t.Fatalf("the CLI's error for a missing disk: %v %s", err, errOut)
	}
	for _, path := range []string{"/v1/disks", "/subscriptions/alice/providers/Microsoft.Compute/disks", "/healthz"} {
		req, _ := http.NewRequest("GET", s.url()+path, nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := s.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if id := resp.Header.Get("x-ms-request-id"); resp.StatusCode != 200 || len(id) != 36 || id == doc.Error.RequestID {
			t.Errorf("GET %s: %s, request ID %q", path, resp.Status, id)
		}
	}
	if strings.Contains(s.log.String(), `"msg":"request"`) {
		t.Errorf("--log-level warn still logs each request:\n%s", s.log.String())
	}
}

// TestRateLimit: a tenant over its rate is answered 429 with Retry-After, the CLI
// waits as told and succeeds, and another tenant is not slowed.
func TestRateLimit(t *testing.T) {
	s := startServer(t, "--rate-limit", "2", "--rate-burst", "4")
	alice, bob := s.tenant("alice"), s.tenant("bob")
	refused := 0
	for range 12 {
		r := s.request(alice, "GET", "/v1/disks", nil, nil)
		if r.status == http.StatusTooManyRequests {
			refused++
			if r.code != "TooManyRequests" {
				t.Fatalf("429 with %s", r.body)
			}
		}
	}
	if refused == 0 {
		t.Fatal("12 requests at once, at a rate of 2 a second with bursts of 4: none refused")
	}
	s.ok(alice, "disk", "list") // its bucket is empty now: the CLI waits and retries
	s.ok(bob, "disk", "list")
}
