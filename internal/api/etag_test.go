package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

// TestIfMatch checks the wire side of optimistic concurrency: GET sets the ETag
// header to the body's etag, a change with a stale If-Match answers 412
// PreconditionFailed and changes nothing, one with the current tag applies.
func TestIfMatch(t *testing.T) {
	srv, key := newTestServer(t)
	send := func(method, path, ifMatch, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, data
	}
	image := func() (hangar.Image, string) {
		t.Helper()
		resp, data := send("GET", "/v1/images/web", "", "")
		var im hangar.Image
		if resp.StatusCode != 200 || json.Unmarshal(data, &im) != nil {
			t.Fatalf("GET image: %d %s", resp.StatusCode, data)
		}
		return im, resp.Header.Get("ETag")
	}
	code := func(data []byte) hangar.Code {
		var e errorBody
		json.Unmarshal(data, &e)
		return e.Error.Code
	}

	disk := bytes.Repeat([]byte{1}, 1<<20)
	if resp, data := send("PUT", "/v1/disks/os", "", string(disk)); resp.StatusCode != 201 {
		t.Fatalf("upload: %d %s", resp.StatusCode, data)
	}
	if resp, data := send("POST", "/v1/images", "", `{"name":"web","type":"os","osType":"linux","osState":"generalized","osDisk":"os","version":"1.0.0"}`); resp.StatusCode != 201 {
		t.Fatalf("create image: %d %s", resp.StatusCode, data)
	}
	im, header := image()
	if im.ETag == "" || header != im.ETag {
		t.Fatalf("GET: ETag header %q, body etag %q", header, im.ETag)
	}

	// Two clients read the image; the first change wins, the second is refused.
	const patch = `{"endOfLife":"2030-01-01"}`
	resp, data := send("PATCH", "/v1/images/web/versions/1.0.0", im.ETag, patch)
	if resp.StatusCode != 200 {
		t.Fatalf("PATCH with the current ETag: %d %s", resp.StatusCode, data)
	}
	var changed hangar.Image
	json.Unmarshal(data, &changed)
	if changed.ETag == im.ETag || changed.Versions[0].EndOfLife != "2030-01-01" {
		t.Fatalf("the PATCH answer: etag %s (was %s), %+v", changed.ETag, im.ETag, changed.Versions)
	}
	resp, data = send("PATCH", "/v1/images/web/versions/1.0.0", im.ETag, `{"endOfLife":"2031-01-01"}`)
	if resp.StatusCode != http.StatusPreconditionFailed || code(data) != hangar.CodePreconditionFailed || !bytes.Contains(data, []byte(strings.Trim(changed.ETag, `"`))) {
		t.Fatalf("PATCH with a stale ETag: %d %s; want 412 PreconditionFailed naming the current ETag", resp.StatusCode, data)
	}
	if now, _ := image(); now.ETag != changed.ETag || now.Versions[0].EndOfLife != "2030-01-01" {
		t.Fatalf("a refused PATCH changed the image: %+v", now)
	}
	// Without If-Match a change is unconditional, as before.
	if resp, data := send("PATCH", "/v1/images/web/versions/1.0.0", "", `{"endOfLife":"2032-01-01"}`); resp.StatusCode != 200 {
		t.Fatalf("PATCH without If-Match: %d %s", resp.StatusCode, data)
	}

	for _, tt := range []struct {
		name, method, path, ifMatch string
		status                      int
	}{
		{"stale delete", "DELETE", "/v1/images/web", im.ETag, 412},
		{"weak tags never match", "DELETE", "/v1/images/web", "W/" + changed.ETag, 412},
		{"malformed", "DELETE", "/v1/images/web", "3", 400},
		{"a list", "DELETE", "/v1/images/web", `"1-a", "2-b"`, 400},
		{"not honored here: refused, not ignored", "POST", "/v1/images:resolve", "*", 400},
		{"a missing resource is still not found", "DELETE", "/v1/disks/nope", "*", 404},
		{"disk delete with another resource's tag", "DELETE", "/v1/disks/os", im.ETag, 412},
	} {
		resp, data := send(tt.method, tt.path, tt.ifMatch, `{"reference":"web"}`)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %s %s If-Match %s: %d %s, want %d", tt.name, tt.method, tt.path, tt.ifMatch, resp.StatusCode, data, tt.status)
		}
	}
	if resp, data := send("DELETE", "/v1/images/web", "*", ""); resp.StatusCode != 204 {
		t.Fatalf("DELETE with If-Match *: %d %s", resp.StatusCode, data)
	}
}
