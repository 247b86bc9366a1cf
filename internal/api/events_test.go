package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestNewestEvents: GET /v1/events?newest=N lists a tenant's newest N events,
// oldest first, with or without a type filter, never another tenant's; an
// admin's are every tenant's; a bad N, or newest= on a stream, is refused with
// 400 and what to do.
func TestNewestEvents(t *testing.T) {
	e := aliceAndBob(t)
	srv, keys, admin, alice, bob := e.srv, e.keys, e.admin, e.alice, e.bob
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "d.raw")
	if err := os.WriteFile(path, bytes.Repeat([]byte{1}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	upload := func(c *client.Client, name string) {
		t.Helper()
		if _, _, err := c.UploadDisk(ctx, path, name, client.UploadOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// alice: a, b, c created, a deleted; bob's come last.
	for _, n := range []string{"a", "b", "c"} {
		upload(alice, n)
	}
	if err := alice.DeleteDisk(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	upload(bob, "x")
	upload(bob, "y")

	subjects := func(evs []hangar.Event, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			out = append(out, e.Source+" "+e.Type+" "+e.Subject)
		}
		return out
	}
	const created, deleted = " Hangar.Disk.Created disks/", " Hangar.Disk.Deleted disks/"
	for _, tc := range []struct {
		name  string
		c     *client.Client
		n     int
		types []string
		want  []string
	}{
		{"alice's newest 2", alice, 2, nil, []string{"/tenants/alice" + created + "c", "/tenants/alice" + deleted + "a"}},
		{"alice's newest created", alice, 2, []string{hangar.EventDiskCreated}, []string{"/tenants/alice" + created + "b", "/tenants/alice" + created + "c"}},
		{"bob's newest 10", bob, 10, nil, []string{"/tenants/bob" + created + "x", "/tenants/bob" + created + "y"}},
		{"bob has no deletes", bob, 10, []string{hangar.EventDiskDeleted}, nil},
		{"the admin's newest 3", admin, 3, nil, []string{"/tenants/alice" + deleted + "a", "/tenants/bob" + created + "x", "/tenants/bob" + created + "y"}},
	} {
		if got := subjects(tc.c.NewestEvents(ctx, tc.n, tc.types)); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}

	get := func(query, accept string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+keys["alice"])
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Message
	}
	for _, tc := range []struct{ query, accept, want string }{
		{"newest=0", "", "1 to 1000"},
		{"newest=many", "", "1 to 1000"},
		{"newest=1001", "", "newest must be 1 to 1000"},
		{"newest=5&type=Hangar.VM.Exploded", "", "not one Hangar sends"},
		{"newest=5", "text/event-stream", "a stream follows the next ones"},
	} {
		if status, msg := get(tc.query, tc.accept); status != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s (%s): %d %q, want 400 with %q", tc.query, tc.accept, status, msg, tc.want)
		}
	}
}
