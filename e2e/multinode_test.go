package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks/s3store"
	"github.com/hangarvm/hangar/internal/chunks/s3store/s3test"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

// cluster is nodes on one machine sharing one database (PostgreSQL), one chunk store
// (S3 with HANGAR_E2E_STORE=s3, else a directory) and one admin key, each with its
// own port, data dir and host name.
type cluster struct {
	t             *testing.T
	db, home, dir string
	adminKey      string
	s3            *s3test.Server
	store         s3store.Config
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{t: t, db: pgtest.DSN(t), home: t.TempDir(), dir: t.TempDir(), adminKey: "e2e-admin-key-of-the-whole-cluster"}
	if os.Getenv("HANGAR_E2E_STORE") == "s3" {
		c.s3 = s3test.Shared(t)
		c.store = c.s3.NewBucket(t)
	}
	return c
}

// launch starts a node without waiting for it (nodes start together, as in a
// deployment; wait with waitHealthy).
func (c *cluster) launch(name string, args ...string) *server {
	s := &server{t: c.t, dataDir: c.t.TempDir(), home: c.home, db: c.db, s3: c.s3, store: c.store, sharedAdminKey: c.adminKey,
		extraArgs: append([]string{"--host-name", name}, args...)}
	if c.s3 == nil {
		s.chunkDir = c.dir
	}
	s.spawn()
	c.t.Cleanup(s.stop)
	return s
}

// TestTwoNodes runs two API nodes on one machine, one PostgreSQL database and one
// chunk directory, and checks that they behave as one service: an upload started
// on one node is finished on the other, and two clients changing one image at once
// through different nodes cannot both win.
func TestTwoNodes(t *testing.T) {
	c := newCluster(t)
	adminKey := c.adminKey
	// Launched together on a new database: the migrations and the creation of the
	// admin tenant race, and both nodes must start.
	n1 := c.launch("node1")
	n2 := c.launch("node2")
	n1.waitHealthy()
	n2.waitHealthy()
	var created struct {
		Key string `json:"key"`
	}
	n2.json(adminKey, &created, "tenant", "create", "alice")
	alice := created.Key

	t.Run("upload started on one node, finished on the other", func(t *testing.T) {
		n1.t, n2.t = t, t
		src := filepath.Join(t.TempDir(), "src.raw")
		// Six chunks with data and one of zeros, which is never sent.
		regions := map[int64]int64{}
		for _, c := range []int64{0, 1, 2, 4, 5, 6} {
			regions[c<<22+c*4096] = 1 << 20
		}
		writeDisk(t, src, 7<<22, 7, regions)
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		var extents []uploadExtent
		chunk := map[string][]byte{}
		for off := int64(0); off < int64(len(data)); off += 4 << 20 {
			c := data[off : off+4<<20]
			if bytes.Count(c, []byte{0}) == len(c) {
				continue
			}
			d := sha256Hex(c)
			extents = append(extents, uploadExtent{off, int64(len(c)), d})
			chunk[d] = c
		}
		if len(extents) != 6 {
			t.Fatalf("the source has %d chunks with data, want 6", len(extents))
		}
		missing := func(s *server, id string) []string {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"digests": digests(extents)})
			r := s.api(alice, "POST", "/v1/uploads/"+id+"/missing", bytes.NewReader(body))
			var out struct {
				Missing []string `json:"missing"`
			}
			if r.status != 200 || json.Unmarshal([]byte(r.body), &out) != nil {
				t.Fatalf("missing chunks on %s: %d %s", s.addr, r.status, r.body)
			}
			return out.Missing
		}
		put := func(s *server, id, d string) {
			t.Helper()
			if r := s.api(alice, "PUT", "/v1/uploads/"+id+"/chunks/"+d, bytes.NewReader(chunk[d])); r.status != 204 {
				t.Fatalf("chunk to %s: %d %s", s.addr, r.status, r.body)
			}
		}

		r := n1.api(alice, "POST", "/v1/uploads", strings.NewReader(fmt.Sprintf(`{"name":"shared","virtualSize":%d,"sourceFormat":"raw"}`, len(data))))
		var up struct {
			ID string `json:"id"`
		}
		if r.status != 201 || json.Unmarshal([]byte(r.body), &up) != nil {
			t.Fatalf("create upload on node 1: %d %s", r.status, r.body)
		}
		if got := missing(n1, up.ID); len(got) != 6 {
			t.Fatalf("node 1 says %d chunks are missing, want 6", len(got))
		}
		for _, e := range extents[:3] {
			put(n1, up.ID, e.Digest)
		}
		// Node 1's client is gone; the upload goes on through node 2, which must
		// know it and every chunk node 1 stored.
		if r := n2.api(alice, "GET", "/v1/uploads/"+up.ID, nil); r.status != 200 {
			t.Fatalf("node 2 does not know the upload: %d %s", r.status, r.body)
		}
		rest := missing(n2, up.ID)
		if len(rest) != 3 || strings.Join(rest, ",") != strings.Join(digests(extents[3:]), ",") {
			t.Fatalf("node 2 asks for %v, want the 3 chunks node 1 did not get", rest)
		}
		for _, d := range rest {
			put(n2, up.ID, d)
		}
		body, _ := json.Marshal(map[string]any{"extents": extents})
		if r := n2.api(alice, "POST", "/v1/uploads/"+up.ID+"/commit", bytes.NewReader(body)); r.status != 201 {
			t.Fatalf("commit on node 2: %d %s", r.status, r.body)
		}
		out := filepath.Join(t.TempDir(), "out.raw")
		n1.ok(alice, "disk", "download", "shared", "--format", "raw", "--file", out)
		sameFile(t, src, out)
	})

	t.Run("concurrent conflicting updates", func(t *testing.T) {
		n1.t, n2.t = t, t
		n1.uploadDisk(alice, "web-os", 3)
		n2.ok(alice, "image", "create", "--name", "web", "--type", "os", "--os-type", "linux", "--os-state", "generalized", "--os-disk", "web-os", "--version", "1.0.0")
		// Two clients read the image, each through its own node.
		var read1, read2 struct {
			ETag string `json:"etag"`
		}
		n1.json(alice, &read1, "image", "show", "web")
		n2.json(alice, &read2, "image", "show", "web")
		if read1.ETag == "" || read1.ETag != read2.ETag {
			t.Fatalf("the nodes show different ETags for one image: %q and %q", read1.ETag, read2.ETag)
		}
		if h := n2.headers(alice, "/v1/images/web").Get("ETag"); h != read1.ETag {
			t.Fatalf("GET's ETag header %q, body %q", h, read1.ETag)
		}

		// Both change it at once, each with what it read.
		type answer struct {
			status int
			code   string
			eol    string
		}
		answers := make([]answer, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, s := range []*server{n1, n2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				eol := fmt.Sprintf("203%d-01-01", i)
				req, _ := http.NewRequest("PATCH", s.url()+"/v1/images/web/versions/1.0.0", strings.NewReader(`{"endOfLife":"`+eol+`"}`))
				req.Header.Set("Authorization", "Bearer "+alice)
				req.Header.Set("If-Match", read1.ETag)
				req.Header.Set("Content-Type", "application/json")
				<-start
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					answers[i] = answer{status: -1, code: err.Error()}
					return
				}
				defer resp.Body.Close()
				var e struct {
					Error struct {
						Code string `json:"code"`
					} `json:"error"`
				}
				json.NewDecoder(resp.Body).Decode(&e)
				answers[i] = answer{resp.StatusCode, e.Error.Code, eol}
			}()
		}
		close(start)
		wg.Wait()
		won, lost := answers[0], answers[1]
		if won.status != 200 {
			won, lost = lost, won
		}
		if won.status != 200 || lost.status != http.StatusPreconditionFailed || lost.code != "PreconditionFailed" {
			t.Fatalf("two changes with one ETag: %+v; want one 200 and one 412 PreconditionFailed", answers)
		}
		var now struct {
			ETag     string `json:"etag"`
			Versions []struct {
				EndOfLife string `json:"endOfLife"`
			} `json:"versions"`
		}
		n1.json(alice, &now, "image", "show", "web")
		if now.Versions[0].EndOfLife != won.eol || now.ETag == read1.ETag {
			t.Fatalf("after the race the image has end of life %s and ETag %s; want the winner's %s and a new ETag", now.Versions[0].EndOfLife, now.ETag, won.eol)
		}

		// The loser's CLI says why; with the new ETag it goes through; without
		// --if-match a change is unconditional, as it always was.
		msg := n2.fails(alice, "image", "update-version", "web", "1.0.0", "--exclude-from-latest", "true", "--if-match", read1.ETag)
		if !strings.Contains(msg, "changed since it was read") || !strings.Contains(msg, now.ETag) {
			t.Fatalf("a stale --if-match says: %s", msg)
		}
		n2.ok(alice, "image", "update-version", "web", "1.0.0", "--exclude-from-latest", "true", "--if-match", strings.Trim(now.ETag, `"`))
		n1.ok(alice, "image", "update-version", "web", "1.0.0", "--end-of-life", "2040-01-01")
		n1.json(alice, &now, "image", "show", "web")
		if now.Versions[0].EndOfLife != "2040-01-01" {
			t.Fatalf("an update without --if-match did not apply: %+v", now)
		}
		// Deletes are conditional too.
		if msg := n1.fails(alice, "image", "delete", "web", "--yes", "--if-match", read1.ETag); !strings.Contains(msg, "changed since it was read") {
			t.Fatalf("a stale delete says: %s", msg)
		}
		n2.ok(alice, "image", "delete", "web", "--yes", "--if-match", now.ETag)
	})
}

// uploadExtent is one extent of a chunked upload's manifest, as the API takes it.
type uploadExtent struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Digest string `json:"sha256"`
}

func digests(extents []uploadExtent) []string {
	out := make([]string, len(extents))
	for i, e := range extents {
		out[i] = e.Digest
	}
	return out
}

// headers sends an authenticated GET and returns the answer's headers.
func (s *server) headers(key, path string) http.Header {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.url()+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header
}
