package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/compute"
	"github.com/hangarvm/hangar/internal/store"
)

var update = flag.Bool("update", false, "rewrite docs/openapi.json from the route table")

const docPath = "../../docs/openapi.json"

func newTestServer(t *testing.T) (*httptest.Server, string) {
	return newClusterTestServer(t, Cluster{})
}

// newClusterTestServer is a test server that is a node of a cluster.
func newClusterTestServer(t *testing.T, cluster Cluster) (*httptest.Server, string) {
	s, key := newAPI(t, cluster)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, key
}

// newAPI is the API of a fresh catalog, and its admin key.
func newAPI(t *testing.T, cluster Cluster) (*Server, string) {
	dir := t.TempDir()
	db, err := store.Open(t.Context(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	backend, err := dirstore.Open(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat := catalog.New(db, &chunks.Store{Backend: backend}, catalog.Config{StagingDir: dir}, log)
	keyFile := filepath.Join(dir, "admin.key")
	if _, err := cat.Bootstrap(t.Context(), "", keyFile); err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(keyFile)
	vms, err := compute.New(t.Context(), compute.Config{Dir: filepath.Join(dir, "compute"), Accel: "tcg"}, db, cat, &chunks.Store{Backend: backend}, log)
	if err != nil {
		t.Fatal(err)
	}
	return New(cat, vms, log, cluster), strings.TrimSpace(string(key))
}

// TestOpenAPIDocumentIsCurrent keeps docs/openapi.json equal to what the server serves.
func TestOpenAPIDocumentIsCurrent(t *testing.T) {
	srv, _ := newTestServer(t)
	resp, err := http.Get(srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !json.Valid(served) {
		t.Fatalf("GET /v1/openapi.json: %d, valid JSON %v", resp.StatusCode, json.Valid(served))
	}
	if *update {
		if err := os.WriteFile(docPath, served, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inRepo, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(inRepo, served) {
		t.Fatal("docs/openapi.json differs from the served document; run: go test ./internal/api -run OpenAPIDocument -update")
	}
}

var param = regexp.MustCompile(`\{[a-z0-9]+\}`)

// TestOpenAPIMatchesRoutes sends a request for every operation the document lists and
// checks that a real route answered, and that methods the document does not list for
// a path are refused.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	srv, key := newTestServer(t)
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Paths) < 20 {
		t.Fatalf("document lists only %d paths", len(doc.Paths))
	}
	all := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	for path, ops := range doc.Paths {
		url := srv.URL + param.ReplaceAllString(path, "x")
		for _, method := range all {
			req, _ := http.NewRequest(method, url, strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			_, documented := ops[strings.ToLower(method)]
			unrouted := resp.StatusCode == http.StatusMethodNotAllowed || strings.Contains(string(body), "no such API route")
			if documented && unrouted {
				t.Errorf("%s %s is documented but no route serves it: %d %s", method, path, resp.StatusCode, body)
			}
			if !documented && !unrouted {
				t.Errorf("%s %s is served (%d) but not documented", method, path, resp.StatusCode)
			}
		}
	}
}

func TestErrorStatuses(t *testing.T) {
	srv, key := newTestServer(t)
	for _, tt := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/v1/nope", "", 404, "NotFound"},
		{"GET", "/v1/disks/missing", "", 404, "DiskNotFound"},
		{"POST", "/v1/images", "{", 400, "InvalidArgument"},
		{"POST", "/v1/images:resolve", `{"reference":"nope"}`, 404, "ImageNotFound"},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e errorBody
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tt.status || string(e.Error.Code) != tt.code || e.Error.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", tt.method, tt.path, resp.StatusCode, e, tt.status, tt.code)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
		}
	}
}
