package store

import (
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestSyndicationJobs checks the leases of pulls on every database: a job starts
// once, a live lease is not taken, an expired or released one is taken by exactly
// one node, progress stops counting once the job is another's, and a failed job
// starts again.
func TestSyndicationJobs(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d *DB) {
		ctx := t.Context()
		u := Upstream{Upstream: hangar.Upstream{Name: "up", URL: "http://x", PublicKey: "ed25519:k", Fingerprint: "SHA256:f"}, APIKey: "secret"}
		if err := d.CreateUpstream(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateUpstream(ctx, &u); hangar.ErrorCode(err) != hangar.CodeConflict {
			t.Fatalf("a second upstream of one name: %v", err)
		}
		list, err := d.Upstreams(ctx)
		if err != nil || len(list) != 1 || list[0].Fingerprint != "SHA256:f" {
			t.Fatalf("Upstreams = %+v, %v", list, err)
		}
		soon := time.Now().Add(time.Hour)
		if ok, err := d.StartSyndicationJob(ctx, "up", "A:B:C:1.0.0", "{}", "n1", soon); !ok || err != nil {
			t.Fatalf("first start: %v %v", ok, err)
		}
		if ok, _ := d.StartSyndicationJob(ctx, "up", "a:b:c:1.0.0", "{}", "n2", soon); ok {
			t.Fatal("a job started twice (URNs match case-insensitively)")
		}
		if got, _ := d.ClaimSyndicationJobs(ctx, "n2", soon); len(got) != 0 {
			t.Fatalf("a live lease was taken: %v", got)
		}
		k := SyndicationJobKey{Upstream: "up", URNKey: "a:b:c:1.0.0"}
		st := hangar.SyndicationJob{State: hangar.SyndicationPulling, TotalChunks: 3, DoneChunks: 1}
		if ok, _ := d.SyndicationProgress(ctx, k, "n1", st, time.Now().Add(-time.Second)); !ok {
			t.Fatal("the holder could not report progress")
		}
		got, err := d.ClaimSyndicationJobs(ctx, "n2", soon)
		if err != nil || len(got) != 1 || got[0] != k {
			t.Fatalf("an expired lease: %v, %v", got, err)
		}
		if ok, _ := d.SyndicationProgress(ctx, k, "n1", st, soon); ok {
			t.Fatal("the former holder still counts")
		}
		if err := d.ReleaseSyndicationJobs(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.ClaimSyndicationJobs(ctx, "n2", soon); len(got) != 1 {
			t.Fatalf("a released job was not taken up: %v", got)
		}
		st.State, st.Message = hangar.SyndicationFailed, "broken"
		d.SyndicationProgress(ctx, k, "n2", st, time.Time{})
		if ok, _ := d.StartSyndicationJob(ctx, "up", "A:B:C:1.0.0", "{}", "n3", soon); !ok {
			t.Fatal("a failed job did not start again")
		}
		j, err := d.SyndicationJob(ctx, k)
		if err != nil || j.State != hangar.SyndicationPulling || j.Message != "" || j.URN != "A:B:C:1.0.0" {
			t.Fatalf("restarted job: %+v, %v", j, err)
		}
		// Chunks held for a job are referenced for garbage collection.
		dg := chunks.Sum([]byte("x"))
		if err := d.HoldSyndicationChunks(ctx, k, []chunks.Digest{dg}); err != nil {
			t.Fatal(err)
		}
		if marked, err := d.MarkForDeletion(ctx, PrimaryStore, []chunks.Digest{dg}); err != nil || len(marked) != 0 {
			t.Fatalf("garbage collection would remove a held chunk: %v, %v", marked, err)
		}
		if held, _ := d.HeldChunk(ctx, "up", dg); !held {
			t.Fatal("HeldChunk: not held")
		}
		if err := d.DeleteUpstream(ctx, "up"); err != nil {
			t.Fatal(err)
		}
		if jobs, _ := d.SyndicationJobs(ctx); len(jobs) != 0 {
			t.Fatalf("jobs of a deleted upstream remain: %+v", jobs)
		}
	})
}
