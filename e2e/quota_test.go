package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tenantJSON is what `hangar tenant show -o json` prints.
type tenantJSON struct {
	Name   string           `json:"name"`
	Limits map[string]int64 `json:"limits"`
	Usage  map[string]int64 `json:"usage"`
	Custom []string         `json:"custom"`
}

// TestQuotaRefusesThenAdminRaises: a tenant at its disk limit is refused the next
// upload with a message that names the limit, its use and what to do, and nothing
// is created; after the admin raises the limit, the same command succeeds. A VM
// over the vCPU limit is refused the same way, before anything boots.
func TestQuotaRefusesThenAdminRaises(t *testing.T) {
	s := startServer(t)
	admin, alice, bob := s.adminKey(), s.tenant("alice"), s.tenant("bob")
	var shown tenantJSON
	s.json(admin, &shown, "tenant", "update", "alice", "--max-disks", "1", "--max-vcpus", "1", "--max-stored-bytes", "1GiB")
	if shown.Limits["disks"] != 1 || shown.Limits["vcpus"] != 1 || shown.Limits["storedBytes"] != 1<<30 || len(shown.Custom) != 3 {
		t.Fatalf("tenant update answered %+v", shown)
	}
	if msg := s.fails(alice, "tenant", "update", "alice", "--max-disks", "100"); !strings.Contains(msg, "only an admin") {
		t.Fatalf("alice raised her own limit: %s", msg)
	}

	s.uploadDisk(alice, "first", 1)
	second := filepath.Join(t.TempDir(), "second.raw")
	writeDisk(t, second, 8<<20, 2, map[int64]int64{0: 4096})
	msg := s.fails(alice, "disk", "upload", second, "--name", "second")
	for _, want := range []string{"quota exceeded", "the limit of disks for tenant alice is 1, and it holds 1; this request would add 1",
		"hangar disk delete", "hangar tenant update alice --max-disks"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("the refusal does not say %q:\n%s", want, msg)
		}
	}
	var disks []struct{ Name string }
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 1 || disks[0].Name != "first" {
		t.Fatalf("after the refusal alice has disks %+v; want only first", disks)
	}
	// Alice sees her own limits and use, and nothing is left of the refused upload.
	s.json(alice, &shown, "tenant", "show")
	if shown.Name != "alice" || shown.Usage["disks"] != 1 || shown.Usage["uploads"] != 0 || shown.Limits["disks"] != 1 {
		t.Fatalf("alice's tenant show: %+v", shown)
	}
	if table := s.ok(alice, "tenant", "show"); !strings.Contains(table, "disks") || !strings.Contains(table, "admin") {
		t.Fatalf("tenant show table:\n%s", table)
	}
	// Bob may not look at alice's limits: she answers as a tenant that does not exist.
	if msg := s.fails(bob, "tenant", "show", "alice"); !strings.Contains(msg, `tenant "alice" does not exist`) {
		t.Fatalf("bob looked at alice: %s", msg)
	}
	// Over the API: the code and the status.
	body, _ := json.Marshal(map[string]any{"name": "third", "virtualSize": 8 << 20, "sourceFormat": "raw"})
	if r := s.api(alice, "POST", "/v1/uploads", bytes.NewReader(body)); r.status != 409 || r.code != "QuotaExceeded" {
		t.Fatalf("POST /v1/uploads over quota: %d %s %s", r.status, r.code, r.body)
	}

	s.ok(admin, "tenant", "update", "alice", "--max-disks", "2")
	s.ok(alice, "disk", "upload", second, "--name", "second")
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 2 {
		t.Fatalf("after the admin raised the limit alice has disks %+v", disks)
	}

	// A VM over the vCPU limit is refused before anything is made or boots.
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatalf("qemu-system-x86_64 is missing: run scripts/deps.sh")
	}
	osImage(s, alice, "img", "first")
	create := []string{"vm", "create", "--name", "big", "--image", "img", "--size", "medium", "--admin-username", "alice",
		"--admin-password", "Secret-Passw0rd", "--no-wait"}
	msg = s.fails(alice, create...)
	if !strings.Contains(msg, "the limit of vCPUs for tenant alice is 1, and it holds 0; this request would add 2") ||
		!strings.Contains(msg, "--max-vcpus") {
		t.Fatalf("vm create over the vCPU limit: %s", msg)
	}
	var vms []struct{ Name string }
	s.json(alice, &vms, "vm", "list")
	if len(vms) != 0 || len(s.qemuProcesses()) != 0 {
		t.Fatalf("the refused VM left VMs %+v or QEMU processes %v", vms, s.qemuProcesses())
	}
	s.ok(admin, "tenant", "update", "alice", "--max-vcpus", "default")
	s.ok(alice, create...)
	s.ok(alice, "vm", "delete", "big", "--yes")
}

// TestQuotaAmplification is the amplification attack through the API: one 4 MiB
// chunk, committed at every offset of a 1 GiB disk by a tenant allowed 64 MiB of
// stored bytes. Stored once, it would be written out in full by every VM made
// from it; it must be refused, and no disk made.
func TestQuotaAmplification(t *testing.T) {
	s := startServer(t)
	admin, mallory := s.adminKey(), s.tenant("mallory")
	s.ok(admin, "tenant", "update", "mallory", "--max-stored-bytes", "64MiB")
	const size = 1 << 30
	body, _ := json.Marshal(map[string]any{"name": "amplified", "virtualSize": size, "sourceFormat": "raw"})
	r := s.api(mallory, "POST", "/v1/uploads", bytes.NewReader(body))
	var up struct{ ID string }
	if r.status != 201 || json.Unmarshal([]byte(r.body), &up) != nil {
		t.Fatalf("start upload: %d %s", r.status, r.body)
	}
	chunk := bytes.Repeat([]byte("amplify "), (4<<20)/8)
	digest := sha256Hex(chunk)
	if r := s.api(mallory, "PUT", "/v1/uploads/"+up.ID+"/chunks/"+digest, bytes.NewReader(chunk)); r.status/100 != 2 {
		t.Fatalf("put chunk: %d %s", r.status, r.body)
	}
	var extents []uploadExtent
	for off := int64(0); off < size; off += 4 << 20 {
		extents = append(extents, uploadExtent{off, 4 << 20, digest})
	}
	body, _ = json.Marshal(map[string]any{"extents": extents})
	r = s.api(mallory, "POST", "/v1/uploads/"+up.ID+"/commit", bytes.NewReader(body))
	if r.status != 409 || r.code != "QuotaExceeded" || !strings.Contains(r.body, "this request would add 1.0 GiB") {
		t.Fatalf("commit of one chunk at every offset of %d bytes: %d %s", size, r.status, r.body)
	}
	var disks []struct{ Name string }
	s.json(mallory, &disks, "disk", "list")
	if len(disks) != 0 {
		t.Fatalf("the refused commit made disks %+v", disks)
	}
}
