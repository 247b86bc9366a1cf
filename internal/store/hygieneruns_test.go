package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// TestHygieneRunsHistory: runs are recorded with increasing sequence numbers,
// listed newest first per kind and paged with before, and each kind is trimmed to
// its bound in the transaction that adds a run, without touching the other kind.
func TestHygieneRunsHistory(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		start := time.Date(2026, 12, 7, 10, 0, 0, 123000, time.UTC)
		record := func(k string, i int, outcome string) HygieneRun {
			t.Helper()
			r := HygieneRun{Kind: k, StartedBy: "admin", StartedAt: start.Add(time.Duration(i) * time.Minute),
				EndedAt: start.Add(time.Duration(i)*time.Minute + time.Second), Outcome: outcome,
				Report: json.RawMessage(fmt.Sprintf(`{"scanned":%d}`, i))}
			if outcome == hangar.RunFailed {
				r.Error = "disk full"
			}
			if k == HygieneGC {
				r.Request = json.RawMessage(`{"dryRun":true}`)
			}
			if err := db.RecordHygieneRun(ctx, &r, 3); err != nil {
				t.Fatal(err)
			}
			return r
		}
		scrub := record(HygieneScrub, 0, hangar.RunSucceeded)
		var seqs []int64
		for i := range 5 {
			outcome := hangar.RunSucceeded
			if i == 4 {
				outcome = hangar.RunFailed
			}
			seqs = append(seqs, record(HygieneGC, i, outcome).Seq)
		}
		if !slices.IsSorted(seqs) || seqs[0] <= scrub.Seq {
			t.Fatalf("sequence numbers %v after the scrub's %d", seqs, scrub.Seq)
		}
		list := func(k string, before int64, limit int) []int64 {
			t.Helper()
			runs, err := db.HygieneRuns(ctx, k, before, limit)
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, r := range runs {
				out = append(out, r.Seq)
			}
			return out
		}
		// Five GC runs, three kept: the newest.
		if got, want := list(HygieneGC, 0, 10), []int64{seqs[4], seqs[3], seqs[2]}; !slices.Equal(got, want) {
			t.Fatalf("gc runs %v, want %v", got, want)
		}
		if got, want := list(HygieneGC, seqs[4], 1), []int64{seqs[3]}; !slices.Equal(got, want) {
			t.Fatalf("gc runs before %d: %v, want %v", seqs[4], got, want)
		}
		if got := list(HygieneGC, seqs[2], 10); len(got) != 0 {
			t.Fatalf("gc runs before the oldest kept: %v", got)
		}
		if got := list(HygieneScrub, 0, 10); !slices.Equal(got, []int64{scrub.Seq}) {
			t.Fatalf("scrub runs %v: trimming GC runs touched them", got)
		}
		runs, err := db.HygieneRuns(ctx, HygieneGC, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		r := runs[0]
		if r.Kind != HygieneGC || r.StartedBy != "admin" || !r.StartedAt.Equal(start.Add(4*time.Minute)) ||
			!r.EndedAt.Equal(start.Add(4*time.Minute+time.Second)) || r.Outcome != hangar.RunFailed || r.Error != "disk full" ||
			string(r.Request) != `{"dryRun":true}` || string(r.Report) != `{"scanned":4}` {
			t.Fatalf("the newest GC run: %+v", r)
		}
		if got, err := db.HygieneRunBySeq(ctx, HygieneGC, seqs[3]); err != nil || got.Seq != seqs[3] || string(got.Report) != `{"scanned":3}` {
			t.Fatalf("run %d: %+v %v", seqs[3], got, err)
		}
		for _, k := range []struct {
			kind string
			seq  int64
		}{{HygieneGC, seqs[0]}, {HygieneScrub, seqs[3]}, {HygieneGC, scrub.Seq}} {
			if _, err := db.HygieneRunBySeq(ctx, k.kind, k.seq); !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s run %d (trimmed, or of the other kind): %v", k.kind, k.seq, err)
			}
		}
		if runs, _ := db.HygieneRuns(ctx, HygieneScrub, 0, 1); string(runs[0].Request) != "{}" {
			t.Fatalf("a scrub's request: %s", runs[0].Request)
		}
	})
}

// TestHygieneRunsRecordedAtOnce: runs recorded at the same time (several nodes)
// all get distinct sequence numbers, and the bound still holds.
func TestHygieneRunsRecordedAtOnce(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				now := time.Now()
				errs[i] = db.RecordHygieneRun(ctx, &HygieneRun{Kind: HygieneScrub, StartedBy: "admin", StartedAt: now, EndedAt: now,
					Outcome: hangar.RunSucceeded}, 5)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		runs, err := db.HygieneRuns(ctx, HygieneScrub, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 5 || runs[0].Seq != 8 || runs[4].Seq != 4 {
			t.Fatalf("%d runs kept, newest %d", len(runs), runs[0].Seq)
		}
	})
}
