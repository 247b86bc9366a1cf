package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRequestIDsAndLogLevel: every answer names its request (x-ms-request-id),
// the CLI's JSON error carries the same ID for the user to quote, and at
// --log-level warn the server writes no line per request.
func TestRequestIDsAndLogLevel(t *testing.T) {
	s := startServer(t, "--log-level", "warn")
	alice := s.tenant("alice")
	_, errOut, err := s.hangar(alice, "disk", "show", "nope", "-o", "json")
	var doc struct {
		Error struct{ Code, Message, RequestID string }
	}
	if err == nil || json.Unmarshal([]byte(errOut), &doc) != nil || doc.Error.Code != "DiskNotFound" || len(doc.Error.RequestID) != 36 {
		t.Fatalf("the CLI's error for a missing disk: %v %s", err, errOut)
	}
	for _, path := range []string{"/v1/disks", "/subscriptions/alice/providers/Microsoft.Compute/disks", "/healthz"} {
		req, _ := http.NewRequest("GET", s.url()+path, nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := s.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if id := resp.Header.Get("x-ms-request-id"); resp.StatusCode != 200 || len(id) != 36 || id == doc.Error.RequestID {
			t.Errorf("GET %s: %s, request ID %q", path, resp.Status, id)
		}
	}
	if strings.Contains(s.log.String(), `"msg":"request"`) {
		t.Errorf("--log-level warn still logs each request:\n%s", s.log.String())
	}
}

// TestRateLimit: a tenant over its rate is answered 429 with Retry-After, the CLI
// waits as told and succeeds, and another tenant is not slowed.
func TestRateLimit(t *testing.T) {
	s := startServer(t, "--rate-limit", "2", "--rate-burst", "4")
	alice, bob := s.tenant("alice"), s.tenant("bob")
	refused := 0
	for range 12 {
		r := s.request(alice, "GET", "/v1/disks", nil, nil)
		if r.status == http.StatusTooManyRequests {
			refused++
			if r.code != "TooManyRequests" {
				t.Fatalf("429 with %s", r.body)
			}
		}
	}
	if refused == 0 {
		t.Fatal("12 requests at once, at a rate of 2 a second with bursts of 4: none refused")
	}
	s.ok(alice, "disk", "list") // its bucket is empty now: the CLI waits and retries
	s.ok(bob, "disk", "list")
}

// TestBackupAndRestore runs docs/OPERATIONS.md's backup of the embedded default
// while the server works, then its restore: the restored server has what the
// backup saw, byte for byte, and nothing written after it.
func TestBackupAndRestore(t *testing.T) {
	for _, tool := range []string{"sqlite3", "cp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run scripts/deps.sh (make test does)", tool)
		}
	}
	s := startWith(t, "", nil) // the embedded default, whatever the suite's backends
	alice, admin := s.tenant("alice"), s.adminKey()
	dir := t.TempDir()
	kept, later := filepath.Join(dir, "kept.raw"), filepath.Join(dir, "later.raw")
	writeDisk(t, kept, 24<<20, 7, map[int64]int64{0: 5 << 20, 12 << 20: 3 << 20})
	writeDisk(t, later, 8<<20, 8, map[int64]int64{0: 2 << 20})
	s.ok(alice, "disk", "upload", kept, "--name", "kept")
	osImage(s, alice, "web", "kept", "--version", "1.0.0")

	data, backup := s.dataDir, filepath.Join(t.TempDir(), "backup")
	sh := func(script string) {
		t.Helper()
		cmd := exec.Command("bash", "-euc", script)
		cmd.Env = append(os.Environ(), "D="+data, "B="+backup)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	// The backup, as docs/OPERATIONS.md writes it, while the server runs.
	sh(`mkdir -p $B
sqlite3 $D/hangar.db ".backup '$B/hangar.db'"
cp -a $D/node.id $D/host.name $B/
cp -a -n $D/chunks $B/`)
	s.ok(alice, "disk", "upload", later, "--name", "later") // after the backup

	// The restore, on the stopped server.
	s.kill()
	sh(`mv $D $D.old && mkdir -m 700 $D
cp -a $B/hangar.db $B/node.id $B/host.name $B/chunks $D/`)
	s.start()
	var disks []struct{ Name string }
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 1 || disks[0].Name != "kept" {
		t.Fatalf("disks after the restore: %+v", disks)
	}
	out := filepath.Join(dir, "restored.raw")
	s.ok(alice, "disk", "download", "kept", "--format", "raw", "--file", out)
	sameFile(t, kept, out)
	s.ok(alice, "image", "show", "web")
	var rep struct {
		Scanned int64
		Corrupt []any
	}
	s.json(admin, &rep, "admin", "scrub")
	if rep.Scanned == 0 || len(rep.Corrupt) != 0 {
		t.Fatalf("scrub after the restore: %+v", rep)
	}
	// The scrub is in the history, in the table and in JSON with its report.
	var runs []struct {
		ID, StartedBy, Outcome string
		Report                 struct{ Scanned int64 }
	}
	s.json(admin, &runs, "admin", "scrub", "runs")
	if len(runs) != 1 || runs[0].StartedBy != "admin" || runs[0].Outcome != "succeeded" || runs[0].Report.Scanned != rep.Scanned {
		t.Fatalf("scrub runs: %+v", runs)
	}
	if out := s.ok(admin, "admin", "scrub", "runs"); !strings.Contains(out, "OUTCOME") || !strings.Contains(out, "succeeded") {
		t.Fatalf("scrub runs, as a table:\n%s", out)
	}
	if out := s.ok(admin, "admin", "gc", "runs"); strings.Contains(out, "succeeded") {
		t.Fatalf("gc runs when none ran:\n%s", out)
	}
}

// TestMetricsPassPromtool: what /metrics serves on a server with disks, an
// upload in progress and webhook deliveries passes Prometheus's own checker
// (promtool check metrics, from Debian's prometheus package).
func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is needed (scripts/deps.sh installs Debian's prometheus package):", err)
	}
	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "event", "webhook", "create", "https://hooks.invalid/x")
	// A name that resolves to loopback passes the check when the webhook is made,
	// and is refused when a delivery connects (no network is allowed here).
	var loop struct{ ID string }
	s.json(alice, &loop, "event", "webhook", "create", "http://localhost:1/x")
	s.uploadDisk(alice, "d", 1)
	for {
		var ds []struct {
			Webhook, LastError string
			Attempts           int
		}
		s.json(alice, &ds, "event", "deliveries", "--webhook", loop.ID)
		if len(ds) == 1 && ds[0].Attempts > 0 {
			if !strings.Contains(ds[0].LastError, "loopback") {
				t.Errorf("delivery to localhost: %+v", ds[0])
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := s.httpClient().Get(s.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = resp.Body
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, metric := range []string{"hangar_disks 1", `hangar_webhook_deliveries{state="pending"} 2`, "hangar_build_info{"} {
		body := s.request("", "GET", "/metrics", nil, nil).body
		if !strings.Contains(body, metric) {
			t.Errorf("/metrics has no %s", metric)
		}
	}
}
