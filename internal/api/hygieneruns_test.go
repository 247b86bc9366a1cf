package api

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestHygieneRunsHistory: every GC and scrub run is in the history with who
// started it, its request and report, newest first and paged; a failed run too;
// a tenant is refused the history as it is every admin route.
func TestHygieneRunsHistory(t *testing.T) {
	s, key := newAPI(t, Cluster{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx := t.Context()
	admin := client.New(srv.URL, key)
	before := time.Now().Add(-time.Second)
	for _, dry := range []bool{true, false, true} {
		if _, err := admin.GC(ctx, hangar.GCRequest{DryRun: dry, GracePeriod: "30m"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.GC(ctx, hangar.GCRequest{GracePeriod: "soon"}); err == nil {
		t.Fatal("a bad grace period was taken")
	}
	scrub, err := admin.Scrub(ctx)
	if err != nil {
		t.Fatal(err)
	}

	runs, err := admin.GCRuns(ctx, client.RunsPage{})
	if err != nil {
		t.Fatal(err)
	}
	// The refused request never ran: three runs, newest first.
	if len(runs) != 3 || !runs[0].Request.DryRun || runs[1].Request.DryRun {
		t.Fatalf("gc runs: %+v", runs)
	}
	r := runs[1]
	if r.StartedBy != "admin" || r.Outcome != hangar.RunSucceeded || r.Error != "" || r.Request.GracePeriod != "30m0s" ||
		r.Request.UploadMaxAge != "168h0m0s" || r.Report.DryRun || r.StartedAt.Before(before) || r.EndedAt.Before(r.StartedAt) {
		t.Fatalf("the second GC run: %+v", r)
	}
	page, err := admin.GCRuns(ctx, client.RunsPage{Limit: 2})
	if err != nil || len(page) != 2 || page[0].ID != runs[0].ID {
		t.Fatalf("first page of 2: %+v %v", page, err)
	}
	page, err = admin.GCRuns(ctx, client.RunsPage{Limit: 2, Before: page[1].ID})
	if err != nil || len(page) != 1 || page[0].ID != runs[2].ID {
		t.Fatalf("second page of 2: %+v %v", page, err)
	}
	sruns, err := admin.ScrubRuns(ctx, client.RunsPage{})
	if err != nil || len(sruns) != 1 || sruns[0].Report.Scanned != scrub.Scanned || sruns[0].Report.Corrupt == nil {
		t.Fatalf("scrub runs: %+v %v", sruns, err)
	}
	if one, err := admin.GCRun(ctx, runs[1].ID); err != nil || one.ID != runs[1].ID || one.Request != runs[1].Request || one.Report != runs[1].Report {
		t.Fatalf("gc run %s: %+v %v", runs[1].ID, one, err)
	}
	if one, err := admin.ScrubRun(ctx, sruns[0].ID); err != nil || one.Report.Scanned != scrub.Scanned {
		t.Fatalf("scrub run %s: %+v %v", sruns[0].ID, one, err)
	}
	for _, id := range []string{sruns[0].ID, "999", "x"} { // a scrub's ID is no GC run's
		if _, err := admin.GCRun(ctx, id); !isCode(err, hangar.CodeNotFound) {
			t.Fatalf("gc run %s: %v", id, err)
		}
	}
	for _, p := range []client.RunsPage{{Before: "x"}, {Limit: 1001}} {
		if _, err := admin.GCRuns(ctx, p); !isCode(err, hangar.CodeInvalid) {
			t.Fatalf("%+v: %v", p, err)
		}
	}

	created, err := admin.CreateTenant(ctx, hangar.TenantCreate{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	alice := client.New(srv.URL, created.Key)
	if _, err := alice.GC(ctx, hangar.GCRequest{DryRun: true}); !isCode(err, hangar.CodeForbidden) {
		t.Fatalf("alice's GC: %v", err)
	}
	if _, err := alice.GCRuns(ctx, client.RunsPage{}); !isCode(err, hangar.CodeForbidden) {
		t.Fatalf("alice's GC history: %v", err)
	}
	if _, err := alice.ScrubRuns(ctx, client.RunsPage{}); !isCode(err, hangar.CodeForbidden) {
		t.Fatalf("alice's scrub history: %v", err)
	}
	if _, err := alice.GCRun(ctx, runs[0].ID); !isCode(err, hangar.CodeForbidden) {
		t.Fatalf("alice's look at a GC run: %v", err)
	}
	if _, err := alice.ScrubRun(ctx, sruns[0].ID); !isCode(err, hangar.CodeForbidden) {
		t.Fatalf("alice's look at a scrub run: %v", err)
	}
	if runs, _ := admin.GCRuns(ctx, client.RunsPage{}); len(runs) != 3 {
		t.Fatalf("a refused GC is in the history: %+v", runs)
	}
}

func isCode(err error, code hangar.Code) bool {
	var he *hangar.Error
	return errors.As(err, &he) && he.Code == code
}
