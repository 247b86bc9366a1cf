package catalog

import (
	"context"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

// TestFailedRunsAreRecorded: a GC or scrub that fails, here because the request
// that started it ended, is in the history as failed, with why and with its
// report as far as it got.
func TestFailedRunsAreRecorded(t *testing.T) {
	s, admin := newService(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.GC(ctx, admin, hangar.GCRequest{}); err == nil {
		t.Fatal("a GC with its request gone succeeded")
	}
	runs, err := s.GCRuns(t.Context(), admin, RunsPage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Outcome != hangar.RunFailed || runs[0].Error != "context canceled" || runs[0].StartedBy != admin.Name {
		t.Fatalf("runs: %+v", runs)
	}
	if _, err := s.Scrub(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	if runs, err := s.ScrubRuns(t.Context(), admin, RunsPage{}); err != nil || len(runs) != 1 || runs[0].Outcome != hangar.RunSucceeded {
		t.Fatalf("scrub runs: %+v %v", runs, err)
	}
}
