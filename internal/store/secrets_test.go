package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestClusterSecretRace opens one new database from four nodes at once, each asking
// for the cluster secret with its own candidate: all four get the same one.
func TestClusterSecretRace(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			const nodes = 4
			dbs := make([]*DB, nodes)
			var wg sync.WaitGroup
			errs := make([]error, nodes)
			for i := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					dbs[i], errs[i] = Open(context.Background(), dsn)
				}()
			}
			wg.Wait()
			for i := range nodes {
				if errs[i] != nil {
					t.Fatalf("node %d: %v", i, errs[i])
				}
				t.Cleanup(func() { dbs[i].Close() })
			}
			got := make([]string, nodes)
			for i := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = dbs[i].ClusterSecret(t.Context(), "forwarding", fmt.Sprintf("candidate-of-node-%d", i))
				}()
			}
			wg.Wait()
			for i := range nodes {
				if errs[i] != nil || got[i] != got[0] || got[i] == "" {
					t.Fatalf("node %d got secret %q (%v); node 0 got %q", i, got[i], errs[i], got[0])
				}
			}
			// A later start keeps it.
			if again, err := dbs[0].ClusterSecret(t.Context(), "forwarding", "a later candidate"); err != nil || again != got[0] {
				t.Fatalf("a later start got %q (%v), want %q", again, err, got[0])
			}
		})
	}
}
