package client

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// TestRetries: calls that may be repeated are sent again after the answers that say
// "later" (honoring Retry-After), with the same body; other calls and other errors
// are sent once; when the server keeps failing, its own message reaches the caller.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  []int // then 200
		call     func(c *Client) error
		attempts int
		wantErr  string
	}{
		{"GET after two 503s", []int{503, 503}, func(c *Client) error { _, err := c.ListDisks(t.Context()); return err }, 3, ""},
		{"GET after 429 and 502", []int{429, 502}, func(c *Client) error { _, err := c.Disk(t.Context(), "d"); return err }, 3, ""},
		{"chunk PUT after 503", []int{503}, func(c *Client) error {
			return c.do(t.Context(), "PUT", "/v1/uploads/u/chunks/x", bytes.NewReader([]byte("chunk bytes")), nil)
		}, 2, ""},
		{"DELETE after 504", []int{504}, func(c *Client) error { return c.DeleteDisk(t.Context(), "d") }, 2, ""},
		{"POST is sent once", []int{503}, func(c *Client) error {
			_, err := c.CreateImage(t.Context(), hangar.ImageCreate{Name: "i"})
			return err
		}, 1, "metadata database is unavailable"},
		{"a streamed body is sent once", []int{503}, func(c *Client) error {
			_, err := c.ImportDisk(t.Context(), "d", io.MultiReader(strings.NewReader("stream")))
			return err
		}, 1, "metadata database is unavailable"},
		{"an internal error is not retried", []int{500}, func(c *Client) error { _, err := c.ListDisks(t.Context()); return err }, 1, "metadata database is unavailable"},
		{"a server that stays down", []int{503, 503, 503, 503, 503, 503, 503}, func(c *Client) error { _, err := c.ListDisks(t.Context()); return err }, retryMax + 1, "metadata database is unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				n := len(bodies)
				bodies = append(bodies, string(body))
				mu.Unlock()
				if n < len(tc.answers) {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(tc.answers[n])
					io.WriteString(w, `{"error":{"code":"ServiceUnavailable","message":"the metadata database is unavailable right now"}}`)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				if r.Method == "GET" && r.URL.Path == "/v1/disks" {
					io.WriteString(w, `[]`)
					return
				}
				io.WriteString(w, `{}`)
			}))
			defer srv.Close()
			err := tc.call(New(srv.URL, "k"))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if len(bodies) != tc.attempts {
				t.Fatalf("%d attempts, want %d", len(bodies), tc.attempts)
			}
			for _, b := range bodies {
				if b != bodies[0] {
					t.Fatalf("a retry sent another body: %q", bodies)
				}
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	answer := func(retryAfter string) *http.Response {
		return &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {retryAfter}}}
	}
	for _, tc := range []struct {
		resp    *http.Response
		attempt int
		want    time.Duration
	}{
		{answer("2"), 0, 2 * time.Second},
		{answer("0"), 3, 0},
		{answer("100000"), 0, retryAfterMax}, // a server cannot park the client for a day
		{answer("-1"), 1, 2 * retryWaitMin},
		{answer("soon"), 0, retryWaitMin},
		{nil, 2, 4 * retryWaitMin},
		{nil, 10, retryWaitMax},
	} {
		if got := backoff(retryWaitMin, retryWaitMax, tc.attempt, tc.resp); got != tc.want {
			t.Errorf("backoff after attempt %d, answer %v: %v, want %v", tc.attempt, tc.resp, got, tc.want)
		}
	}
}
