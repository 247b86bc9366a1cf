package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestRunHistoryPages: the GC and scrub page lists the runs made here and
// through the API, each linking to its report; the history pages page back; a
// tenant is refused each of them, and a run that is not there is the not-found
// page.
func TestRunHistoryPages(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "d")
	admin := s.browser(t)
	admin.signIn("admin")
	if a := admin.get("/console/admin/maintenance"); a.status != 200 || !strings.Contains(a.body, "No garbage collection has run yet.") ||
		!strings.Contains(a.body, "No scrub has run yet.") {
		t.Fatalf("the page before any run: %d\n%s", a.status, a.body)
	}
	if a := admin.post("/console/admin/gc", url.Values{"csrf": {admin.csrf}, "dryRun": {"on"}, "gracePeriod": {"2h"}}); a.status != 200 ||
		!strings.Contains(a.body, "dry run: nothing removed") || !strings.Contains(a.body, `<a href="/console/admin/runs/gc/1">Run 1</a>`) {
		t.Fatalf("gc: %d\n%s", a.status, a.body)
	}
	if _, err := s.api["admin"].Scrub(t.Context()); err != nil {
		t.Fatal(err)
	}
	a := admin.get("/console/admin/maintenance")
	for _, want := range []string{`<a href="/console/admin/runs/gc/1">Run 1</a>`, `<a href="/console/admin/runs/scrub/2">Run 2</a>`,
		"dry run, grace 2h0m0s", `href="/console/admin/runs/gc">Every garbage collection`} {
		if !strings.Contains(a.body, want) {
			t.Fatalf("the page after two runs lacks %s:\n%s", want, a.body)
		}
	}
	a = admin.get("/console/admin/runs/gc/1")
	for _, want := range []string{"Garbage collection 1 (dry run)", "by admin", "succeeded", "Would remove", "<dd>2h0m0s</dd>"} {
		if a.status != 200 || !strings.Contains(a.body, want) {
			t.Fatalf("gc run 1 lacks %s: %d\n%s", want, a.status, a.body)
		}
	}
	scrubbed, _ := s.api["admin"].ScrubRuns(t.Context(), client.RunsPage{})
	if a := admin.get("/console/admin/runs/scrub/2"); a.status != 200 || !strings.Contains(a.body, "Scrub 2") || !strings.Contains(a.body, "Chunks verified") ||
		len(scrubbed) != 1 || scrubbed[0].Report.Scanned == 0 {
		t.Fatalf("scrub run 2: %d %+v\n%s", a.status, scrubbed, a.body)
	}
	// The history pages: 51 GC runs (and a scrub between) make a second page.
	for range runsPerPage {
		if _, err := s.api["admin"].GC(t.Context(), hangar.GCRequest{DryRun: true}); err != nil {
			t.Fatal(err)
		}
	}
	a = admin.get("/console/admin/runs/gc")
	if a.status != 200 || strings.Contains(a.body, "/console/admin/runs/gc/2\"") || !strings.Contains(a.body, `href="/console/admin/runs/gc/52"`) ||
		!strings.Contains(a.body, `href="/console/admin/runs/gc?before=3" rel="next"`) {
		t.Fatalf("the GC history: %d\n%s", a.status, a.body)
	}
	a = admin.get("/console/admin/runs/gc?before=3")
	if a.status != 200 || !strings.Contains(a.body, `href="/console/admin/runs/gc/1"`) || strings.Contains(a.body, "Older runs") {
		t.Fatalf("the GC history's second page: %d\n%s", a.status, a.body)
	}
	for _, p := range []string{"/console/admin/runs/gc/2", "/console/admin/runs/gc/999", "/console/admin/runs/gc/x", "/console/admin/runs/other",
		"/console/admin/runs/other/1"} {
		if a := admin.get(p); a.status != http.StatusNotFound {
			t.Errorf("admin GET %s: %d", p, a.status)
		}
	}

	alice := s.browser(t)
	alice.signIn("alice")
	for _, p := range []string{"/console/admin/maintenance", "/console/admin/runs/gc", "/console/admin/runs/scrub", "/console/admin/runs/gc/1",
		"/console/admin/runs/scrub/2"} {
		if a := alice.get(p); (a.status != http.StatusForbidden && a.status != http.StatusNotFound) || strings.Contains(a.body, "Run 1") {
			t.Errorf("alice GET %s: %d", p, a.status)
		}
	}
}
