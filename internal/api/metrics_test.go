package api

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestServiceMetrics: /metrics reports what the service holds and the last GC and
// scrub, with values that match what the API says, and passes Prometheus's own
// lint (promtool check metrics runs the same checks).
func TestServiceMetrics(t *testing.T) {
	s, key := newAPI(t, Cluster{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	admin := client.New(srv.URL, key)
	path := filepath.Join(t.TempDir(), "d.raw")
	data := make([]byte, 9<<20)
	copy(data[5<<20:], "not zero")
	copy(data, "neither")
	os.WriteFile(path, data, 0o644)
	disk, _, err := admin.UploadDisk(t.Context(), path, "d", client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.GC(t.Context(), hangar.GCRequest{GracePeriod: "1h"}); err != nil {
		t.Fatal(err)
	}
	scrub, err := admin.Scrub(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// An upload started and not committed.
	req := httptest.NewRequest("POST", "/v1/uploads", strings.NewReader(`{"name":"u","virtualSize":4194304,"sourceFormat":"raw"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != 201 && w.Code != 200 {
		t.Fatalf("starting an upload: %d %s", w.Code, w.Body)
	}
	for metric, want := range map[string]float64{
		"hangar_disks":                     1,
		"hangar_disk_stored_bytes":         float64(disk.StoredBytes),
		"hangar_disk_virtual_bytes":        float64(disk.VirtualSize),
		"hangar_uploads_in_progress":       1,
		"hangar_gc_last_scanned_chunks":    float64(scrub.Scanned),
		"hangar_gc_last_removed_chunks":    0,
		"hangar_scrub_last_corrupt_chunks": 0,
		"hangar_disks_without_checksums":   1, // no checksum worker runs in this test
	} {
		if got := gathered(t, s, metric, ""); got != want {
			t.Errorf("%s = %v, want %v", metric, got, want)
		}
	}
	if got := gathered(t, s, "hangar_store_chunks", "store=primary"); got != float64(scrub.Scanned) || got != 2 {
		t.Errorf("primary store chunks %v, scrub scanned %d, want 2", got, scrub.Scanned)
	}
	if got := gathered(t, s, "hangar_webhook_deliveries", "state=pending"); got != 0 {
		t.Errorf("pending webhook deliveries with no webhook: %v", got)
	}
	if gathered(t, s, "hangar_scrub_last_run_timestamp_seconds", "") == 0 || gathered(t, s, "hangar_build_info", "") != 1 {
		t.Error("no scrub time or build info")
	}
	problems, err := testutil.GatherAndLint(s.reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

// gathered is the value of metric's sample with the label label (NAME=VALUE), or
// its first sample when label is "".
func gathered(t *testing.T, s *Server, metric, label string) float64 {
	t.Helper()
	families, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName()+"="+l.GetValue() == label {
					return m.GetGauge().GetValue()
				}
			}
			if label == "" {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", metric, label)
	return 0
}
