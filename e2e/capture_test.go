package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/appliance/appliancetest"
)

// TestGeneralizeCaptureLoop: marketplace image → VM → customize → deprovision+user
// in the guest → generalize → capture → two new VMs, each with its own identity,
// keeping the customization and the data disk's content; the previous user is gone.
func TestGeneralizeCaptureLoop(t *testing.T) {
	img := testImage(t, "generalized")
	s := startServer(t)
	contoso, alice := s.tenant("contoso", "--role", "publisher"), s.tenant("alice")
	s.ok(contoso, "disk", "upload", img, "--name", "os")
	data := filepath.Join(t.TempDir(), "data.raw")
	os.WriteFile(data, append([]byte("ORIGINAL-DATA"), make([]byte, 1<<20-13)...), 0o644)
	s.ok(contoso, "disk", "upload", data, "--name", "data")
	s.ok(contoso, "image", "create", "--name", "app", "--type", "vm", "--os-type", "linux", "--os-state", "generalized",
		"--os-disk", "os", "--data-disk", "0=data")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:App:std:1.0.0", "--image", "app")

	if _, err := s.createVM(alice, "--name", "v1", "--image", "Contoso:App:std:latest", "--admin-username", "first", "--ssh-key-value", newSSHKey(t)); err != nil {
		t.Fatal(err)
	}
	s.ok(alice, "vm", "run-command", "v1", "--script", "echo customized > /root/marker && printf CAPTURED-DATA | dd of=/dev/vdb conv=notrunc 2>/dev/null && sync")
	if msg := s.fails(alice, "vm", "capture", "v1", "--image-name", "golden", "--os-state", "generalized"); !strings.Contains(msg, "stop it") {
		t.Fatalf("capture of a running VM: %s", msg)
	}
	out := s.ok(alice, "vm", "run-command", "v1", "--script", "hangar-agent deprovision+user")
	for _, want := range []string{"ssh_host_", "machine-id", "first"} {
		if !strings.Contains(out, want) {
			t.Fatalf("deprovision+user did not report %q:\n%s", want, out)
		}
	}
	s.ok(alice, "vm", "stop", "v1")
	if msg := s.fails(alice, "vm", "capture", "v1", "--image-name", "golden", "--os-state", "generalized"); !strings.Contains(msg, "not generalized") {
		t.Fatalf("generalized capture of a VM not generalized: %s", msg)
	}
	if msg := s.fails(alice, "vm", "capture", "v1", "--image-name", "golden", "--type", "os"); !strings.Contains(msg, "data disks") {
		t.Fatalf("OS-image capture of a VM with data disks: %s", msg)
	}
	s.ok(alice, "vm", "generalize", "v1", "--yes")
	var disks []diskJSON
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 2 || !strings.HasPrefix(disks[0].Name, "v1-backup-") {
		t.Fatalf("generalize took no backup first: %+v", disks)
	}
	if msg := s.fails(alice, "vm", "start", "v1"); !strings.Contains(msg, "generalized and can never start") {
		t.Fatalf("start of a generalized VM: %s", msg)
	}
	s.ok(alice, "vm", "capture", "v1", "--image-name", "golden")
	if r := s.api(alice, "GET", "/v1/vms/v1", nil); r.status != 404 {
		t.Fatalf("a generalized capture must delete the VM: %d", r.status)
	}

	fs := map[string]string{}
	for _, name := range []string{"w1", "w2"} {
		vm, err := s.createVM(alice, "--name", name, "--image", "golden", "--admin-username", "second", "--ssh-key-value", newSSHKey(t))
		if err != nil || vm.ProvisioningState != "Succeeded" {
			t.Fatalf("VM from the captured image: %v %+v\n%s", err, vm, s.serialLog(alice, name))
		}
		if log := s.serialLog(alice, name); !strings.Contains(log, "vdb starts with: CAPTURED-DATA") {
			t.Fatalf("the data disk's content was not captured:\n%s", log)
		}
		s.ok(alice, "vm", "stop", name)
		fs[name] = s.rootFS(vm.ID)
	}
	ids := map[string]bool{}
	keys := map[string]bool{}
	for name, f := range fs {
		if got := strings.TrimSpace(guestFile(t, f, "/etc/hostname")); got != name {
			t.Fatalf("%s: hostname %q", name, got)
		}
		passwd := guestFile(t, f, "/etc/passwd")
		if !strings.Contains(passwd, "second:") || strings.Contains(passwd, "first:") || guestStat(t, f, "/home/first") != "" {
			t.Fatalf("%s: users wrong, the previous user must be gone:\n%s", name, passwd)
		}
		if got := strings.TrimSpace(guestFile(t, f, "/root/marker")); got != "customized" {
			t.Fatalf("%s: the customization was lost: %q", name, got)
		}
		ids[guestFile(t, f, "/etc/machine-id")] = true
		keys[guestFile(t, f, "/etc/ssh/ssh_host_ed25519_key.pub")] = true
	}
	if len(ids) != 2 || len(keys) != 2 {
		t.Fatalf("the two VMs share a machine-id or host key: %v %v", ids, keys)
	}
}

// TestSpecializedCapture keeps a VM's identity: the captured image boots with the
// same name and users and is not provisioned; the VM stays as it was.
func TestSpecializedCapture(t *testing.T) {
	img := testImage(t, "generalized")
	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", img, "--name", "os")
	osImage(s, alice, "base", "os")
	if _, err := s.createVM(alice, "--name", "pet", "--image", "base", "--computer-name", "pet01", "--admin-username", "keeper", "--ssh-key-value", newSSHKey(t)); err != nil {
		t.Fatal(err)
	}
	s.ok(alice, "vm", "run-command", "pet", "--script", "echo kept > /root/marker && sync")
	// Captured while it runs: crash-consistent, and the VM keeps running.
	s.ok(alice, "vm", "capture", "pet", "--image-name", "pet-copy", "--os-state", "specialized")
	var pet vmJSON
	s.json(alice, &pet, "vm", "show", "pet")
	if pet.PowerState != "running" {
		t.Fatalf("a specialized capture changed the VM: %+v", pet)
	}
	var backup struct {
		OSDisk  string `json:"osDisk"`
		Restore string `json:"restore"`
	}
	s.json(alice, &backup, "vm", "backup", "pet", "--name", "pet-bk")
	if backup.OSDisk != "pet-bk-os" || !strings.Contains(backup.Restore, "--os-state specialized --os-disk pet-bk-os") {
		t.Fatalf("backup of a running VM: %+v", backup)
	}
	// The name is taken: a second backup under it is refused, the first stays; with
	// --overwrite it replaces the first.
	var first, second diskJSON
	s.json(alice, &first, "disk", "show", "pet-bk-os")
	if msg := s.fails(alice, "vm", "backup", "pet", "--name", "pet-bk"); !strings.Contains(msg, "--overwrite") {
		t.Fatalf("second backup under one name: %s", msg)
	}
	s.json(alice, &second, "disk", "show", "pet-bk-os")
	if second.ID != first.ID {
		t.Fatalf("a refused backup replaced the first: %+v, was %+v", second, first)
	}
	s.json(alice, &backup, "vm", "backup", "pet", "--name", "pet-bk", "--overwrite")
	s.json(alice, &second, "disk", "show", "pet-bk-os")
	if backup.OSDisk != "pet-bk-os" || second.ID == first.ID {
		t.Fatalf("backup --overwrite: %+v, disk %+v (was %+v)", backup, second, first)
	}
	s.ok(alice, "vm", "stop", "pet")
	vm, err := s.createVM(alice, "--name", "clone", "--image", "pet-copy")
	if err != nil || vm.ProvisioningState != "Succeeded" {
		t.Fatalf("VM from the specialized capture: %v %+v", err, vm)
	}
	if log := s.serialLog(alice, "clone"); !strings.Contains(log, "hostname pet01, nothing to provision") {
		t.Fatalf("the clone was provisioned or lost its identity:\n%s", log)
	}
	res := s.ok(alice, "vm", "run-command", "clone", "--script", "cat /root/marker; grep -c '^keeper:' /etc/passwd")
	if !strings.Contains(res, "kept") || !strings.Contains(res, "1") {
		t.Fatalf("the clone lost the original's state: %s", res)
	}
	s.ok(alice, "vm", "delete", "clone", "--yes")
}

// TestKill9DuringCaptureAndBackup: the server dies while a capture and then a backup
// store chunks; after a restart no half image is visible and both can be retried.
func TestKill9DuringCaptureAndBackup(t *testing.T) {
	img := testImage(t, "generalized")
	s := startServer(t)
	alice := s.tenant("alice")
	grown := filepath.Join(t.TempDir(), "grown.raw")
	s.ok(alice, "disk", "convert", img, grown, "--format", "raw", "--resize-to-mib", "1024")
	s.ok(alice, "disk", "upload", grown, "--name", "os")
	osImage(s, alice, "base", "os")
	vm, err := s.createVM(alice, "--name", "v", "--image", "base", "--admin-username", "ops", "--ssh-key-value", newSSHKey(t))
	if err != nil {
		t.Fatal(err)
	}
	s.ok(alice, "vm", "stop", "v")
	overlay := filepath.Join(s.dataDir, "compute", "vms", vm.ID, "os.qcow2")
	for n, op := range [][]string{
		{"vm", "capture", "v", "--image-name", "snap", "--os-state", "specialized"},
		{"vm", "backup", "v", "--name", "bk"},
	} {
		// What the VM "wrote": 400 MiB of chunks no store holds yet, so that storing
		// them takes a while.
		args := []string{"-f", "qcow2"}
		for i := range 100 {
			args = append(args, "-c", fmt.Sprintf("write -P %d %dM 4M", 100*n+i+1, 256+4*i))
		}
		if out, err := exec.Command("qemu-io", append(args, overlay)...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-io: %v %s", err, out)
		}
		before := len(s.chunkFiles())
		cmd := exec.Command(hangarBin, append(op, "--server", s.url(), "--key", alice)...)
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			if cmd.ProcessState != nil || strings.Contains(out.String(), "error") {
				t.Fatalf("%v ended before the crash: %s", op, out.String())
			}
			return len(s.chunkFiles()) >= before+5
		})
		s.kill9()
		cmd.Wait()
		s.start()
		if r := s.api(alice, "GET", "/v1/images:lookup?ref=snap", nil); n == 0 && r.status != 404 {
			t.Fatalf("after a crash during %v the image is visible: %d %s", op, r.status, r.body)
		}
		s.ok(alice, op...) // the retry works
	}
	var im imageJSON
	s.json(alice, &im, "image", "show", "snap")
	if len(im.Versions) != 1 || im.Versions[0].OSDisk.Disk != "snap-1.0.0-os" {
		t.Fatalf("captured image after the retry: %+v", im)
	}
	var d diskJSON
	s.json(alice, &d, "disk", "show", "bk-os")
	if d.StoredBytes < 400<<20 {
		t.Fatalf("backup after the retry holds %d bytes", d.StoredBytes)
	}
}

// TestOfflineGeneralizeThenProvision generalizes a specialized disk image offline
// (no boot), uploads it as a generalized OS image, and provisions a VM from it.
func TestOfflineGeneralizeThenProvision(t *testing.T) {
	t.Setenv("HANGAR_APPLIANCE", appliancetest.Dir(t))
	img := testImage(t, "specialized")
	s := startServer(t)
	alice := s.tenant("alice")
	local := filepath.Join(t.TempDir(), "disk.raw")
	data, _ := os.ReadFile(img)
	os.WriteFile(local, data, 0o644)
	var rep struct {
		Changes []struct{ Path string } `json:"changes"`
	}
	out := s.ok(alice, "disk", "generalize", "--local", local, "-o", "json")
	json.Unmarshal([]byte(out), &rep)
	paths := map[string]bool{}
	for _, c := range rep.Changes {
		paths[c.Path] = true
	}
	if !paths["/var/lib/hangar-agent/instance-id"] || !paths["/etc/hostname"] {
		t.Fatalf("offline generalize report: %s", out)
	}
	if msg := s.fails(alice, "disk", "generalize", "--local", filepath.Join(t.TempDir(), "missing.raw")); msg == "" {
		t.Fatal("no message for a missing file")
	}
	s.ok(alice, "disk", "upload", local, "--name", "gen")
	osImage(s, alice, "gen", "gen")

	// The same on the server: a stored specialized disk into a new generalized disk.
	s.ok(alice, "disk", "upload", img, "--name", "spec")
	var res struct {
		Disk    struct{ Name string } `json:"disk"`
		Changes []string              `json:"changes"`
	}
	s.json(alice, &res, "disk", "generalize", "spec")
	if res.Disk.Name != "spec-generalized" || len(res.Changes) != len(rep.Changes) {
		t.Fatalf("server-side generalize: %+v, want the %d changes of the local run", res, len(rep.Changes))
	}
	var a, b diskJSON
	s.json(alice, &a, "disk", "show", "gen")
	s.json(alice, &b, "disk", "show", "spec-generalized")
	if a.StoredBytes != b.StoredBytes {
		t.Fatalf("local and server generalization differ: %d vs %d stored bytes", a.StoredBytes, b.StoredBytes)
	}
	vm, err := s.createVM(alice, "--name", "fresh", "--image", "gen", "--computer-name", "fresh01", "--admin-username", "ops", "--ssh-key-value", newSSHKey(t))
	if err != nil || vm.ProvisioningState != "Succeeded" {
		t.Fatalf("provisioning from the offline-generalized image: %v %+v\n%s", err, vm, s.serialLog(alice, "fresh"))
	}
	if log := s.serialLog(alice, "fresh"); !strings.Contains(log, "hostname fresh01, provisioned") {
		t.Fatalf("not provisioned:\n%s", log)
	}
	s.ok(alice, "vm", "delete", "fresh", "--yes")
}
