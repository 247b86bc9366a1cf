package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
)

func newSSHKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " test@hangar"
}

// TestVMFromMarketplaceImage is the whole path of a generalized image: upload the
// test guest, make it an OS image, publish it with a plan, create a VM by URN once
// the terms are accepted, and find the provisioned identity on its disk afterwards.
func TestVMFromMarketplaceImage(t *testing.T) {
	img := testImage(t, "generalized")
	s := startServer(t)
	contoso, alice := s.tenant("contoso", "--role", "publisher"), s.tenant("alice")
	s.ok(contoso, "disk", "upload", img, "--name", "testimage")
	osImage(s, contoso, "testimage", "testimage")
	s.ok(contoso, "marketplace", "publish", "--urn", "Contoso:TestLinux:tiny:1.0.0", "--image", "testimage", "--plan", "tiny")

	key := newSSHKey(t)
	customData := filepath.Join(t.TempDir(), "custom")
	os.WriteFile(customData, []byte("#!/bin/sh\necho hello from custom data\n"), 0o600)
	create := []string{"--name", "web1", "--image", "Contoso:TestLinux:tiny:latest", "--computer-name", "web01",
		"--admin-username", "azureuser", "--admin-password", "Hangar-Test-Pass-1", "--ssh-key-value", key,
		"--custom-data", customData, "--provisioning-timeout", "4m"}
	if _, err := s.createVM(alice, create...); err == nil || !strings.Contains(err.Error(), "terms accept") {
		t.Fatalf("VM created without accepting the plan's terms: %v", err)
	}
	s.ok(alice, "vm", "image", "terms", "accept", "--urn", "Contoso:TestLinux:tiny:latest")
	vm, err := s.createVM(alice, create...)
	if err != nil || vm.PowerState != "running" || vm.ProvisioningState != "Succeeded" {
		t.Fatalf("vm create: %v %+v\nserial log:\n%s", err, vm, s.serialLog(alice, "web1"))
	}
	if vm.Image != "Contoso:TestLinux:tiny:1.0.0" || vm.SSHPort == 0 {
		t.Fatalf("vm: %+v", vm)
	}
	if log := s.serialLog(alice, "web1"); !strings.Contains(log, "hangar-agent") {
		t.Fatalf("serial log holds no agent line:\n%s", log)
	}
	checkQEMUUnprivileged(t, vm.ID)
	s.ok(alice, "vm", "stop", "web1")
	var stopped vmJSON
	s.json(alice, &stopped, "vm", "show", "web1")
	if stopped.PowerState != "stopped" || len(s.qemuProcesses()) != 0 {
		t.Fatalf("after stop: %+v, QEMU %v", stopped, s.qemuProcesses())
	}

	fs := s.rootFS(vm.ID)
	if got := strings.TrimSpace(guestFile(t, fs, "/etc/hostname")); got != "web01" {
		t.Fatalf("hostname %q, want web01", got)
	}
	if !strings.Contains(guestFile(t, fs, "/etc/passwd"), "azureuser:") {
		t.Fatal("admin user missing from /etc/passwd")
	}
	shadow := guestFile(t, fs, "/etc/shadow")
	if !strings.Contains(shadow, "azureuser:$6$") || strings.Contains(shadow, "Hangar-Test-Pass-1") {
		t.Fatalf("/etc/shadow must hold a SHA-512-crypt hash and never the password:\n%s", shadow)
	}
	if got := guestFile(t, fs, "/home/azureuser/.ssh/authorized_keys"); !strings.Contains(got, key) {
		t.Fatalf("authorized_keys: %q", got)
	}
	if got := guestFile(t, fs, "/var/lib/hangar-agent/custom-data"); !strings.Contains(got, "hello from custom data") {
		t.Fatalf("custom data: %q", got)
	}
	if guestStat(t, fs, "/etc/ssh/ssh_host_ed25519_key") == "" {
		t.Fatal("no SSH host key was generated")
	}
	if id := strings.TrimSpace(guestFile(t, fs, "/etc/machine-id")); len(id) != 32 || id == "uninitialized" {
		t.Fatalf("machine-id %q", id)
	}
	if saved := guestFile(t, fs, "/var/lib/hangar-agent/ovf-env.xml"); strings.Contains(saved, "Hangar-Test-Pass-1") {
		t.Fatal("the agent saved the admin password in clear")
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "compute", "vms", vm.ID, "cidata.iso")); !os.IsNotExist(err) {
		t.Fatalf("the provisioning medium was not removed after ready: %v", err)
	}

	// A restart provisions nothing again and the VM comes back.
	s.ok(alice, "vm", "start", "web1")
	s.waitSerial(alice, "web1", "hostname web01, nothing to provision")
	s.ok(alice, "vm", "delete", "web1", "--yes")
	if procs := s.qemuProcesses(); len(procs) != 0 {
		t.Fatalf("QEMU left after delete: %v", procs)
	}

	// The VM's life as its events tell it, in order.
	var evs []struct {
		Type string
		Data struct{ PowerState, ProvisioningState string }
	}
	s.json(alice, &evs, "event", "list", "--type", "Hangar.VM.Created", "--type", "Hangar.VM.StateChanged", "--type", "Hangar.VM.Deleted")
	var life []string
	for _, e := range evs {
		life = append(life, strings.TrimPrefix(e.Type, "Hangar.VM.")+":"+e.Data.PowerState+"/"+e.Data.ProvisioningState)
	}
	joined := strings.Join(life, " ")
	for _, want := range []string{"Created:creating/Creating", "StateChanged:running/Succeeded", "StateChanged:stopped/Succeeded"} {
		if !strings.Contains(joined, want) {
			t.Errorf("VM events %q lack %s", life, want)
		}
	}
	if len(life) < 4 || !strings.HasPrefix(life[0], "Created:") || life[len(life)-1] != "Deleted:/" {
		t.Errorf("VM events %q: want Created first and Deleted last", life)
	}
}

// TestVMImageDataDisksAndUEFI boots a generation 2 (UEFI) VM image with two data
// disks: the guest sees them as the next block devices, in LUN order, with their
// content.
func TestVMImageDataDisksAndUEFI(t *testing.T) {
	img := testImage(t, "generalized")
	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", img, "--name", "os")
	dir := t.TempDir()
	for i, marker := range []string{"LUN0-FIRST-DATA-DISK", "LUN1-SECOND-DATA-DISK"} {
		path := filepath.Join(dir, marker+".raw")
		os.WriteFile(path, append([]byte(marker), make([]byte, 1<<20-len(marker))...), 0o644)
		s.ok(alice, "disk", "upload", path, "--name", "data"+string(rune('0'+i)))
	}
	s.ok(alice, "image", "create", "--name", "app", "--type", "vm", "--os-type", "linux", "--os-state", "generalized",
		"--os-disk", "os", "--data-disk", "1=data1", "--data-disk", "0=data0", "--hyperv-generation", "V2")
	vm, err := s.createVM(alice, "--name", "app1", "--image", "app", "--admin-username", "ops", "--ssh-key-value", newSSHKey(t))
	if err != nil || vm.ProvisioningState != "Succeeded" {
		t.Fatalf("UEFI VM: %v %+v\n%s", err, vm, s.serialLog(alice, "app1"))
	}
	log := s.serialLog(alice, "app1")
	if !strings.Contains(log, "vdb starts with: LUN0-FIRST-DATA-DISK") || !strings.Contains(log, "vdc starts with: LUN1-SECOND-DATA-DISK") {
		t.Fatalf("data disks not in LUN order with their content:\n%s", log)
	}
	s.ok(alice, "vm", "delete", "app1", "--yes")
}

// TestProvisioningMistakes: a generalized image created as specialized, and an
// image without an agent, end in OSProvisioningTimedOut with a message that points
// at the serial log; a specialized VM image boots with its own identity.
func TestProvisioningMistakes(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", testImage(t, "generalized"), "--name", "gen")
	s.ok(alice, "disk", "upload", testImage(t, "noagent"), "--name", "noagent")
	s.ok(alice, "disk", "upload", testImage(t, "specialized"), "--name", "spec")
	s.ok(alice, "image", "create", "--name", "wrong", "--type", "vm", "--os-type", "linux", "--os-state", "specialized", "--os-disk", "gen")
	osImage(s, alice, "blind", "noagent")
	s.ok(alice, "image", "create", "--name", "pet", "--type", "vm", "--os-type", "linux", "--os-state", "specialized", "--os-disk", "spec")

	vm, err := s.createVM(alice, "--name", "w", "--image", "wrong", "--provisioning-timeout", "45s")
	if err == nil || vm.ProvisioningState != "OSProvisioningTimedOut" || !strings.Contains(vm.ProvisioningMessage, "serial-log") ||
		!strings.Contains(vm.ProvisioningMessage, "generalized") {
		t.Fatalf("generalized image created as specialized: %v %+v", err, vm)
	}
	if log := s.serialLog(alice, "w"); !strings.Contains(log, "waiting for provisioning") {
		t.Fatalf("the serial log does not explain the wait:\n%s", log)
	}
	s.ok(alice, "vm", "delete", "w", "--yes")

	vm, err = s.createVM(alice, "--name", "b", "--image", "blind", "--admin-username", "ops", "--ssh-key-value", newSSHKey(t), "--provisioning-timeout", "30s")
	if err == nil || vm.ProvisioningState != "OSProvisioningTimedOut" || !strings.Contains(vm.ProvisioningMessage, "serial-log") {
		t.Fatalf("image without an agent: %v %+v", err, vm)
	}
	// Neither hangar-agent nor qemu-guest-agent: run-command says what the image
	// needs, instead of waiting out its timeout.
	if msg := s.fails(alice, "vm", "run-command", "b", "--script", "true", "--timeout", "5s"); !strings.Contains(msg, "needs hangar-agent or qemu-guest-agent") {
		t.Fatalf("run-command in a guest without an agent: %s", msg)
	}
	s.ok(alice, "vm", "delete", "b", "--yes")

	if _, err := s.createVM(alice, "--name", "p", "--image", "pet", "--admin-username", "x", "--ssh-key-value", newSSHKey(t)); err == nil ||
		!strings.Contains(err.Error(), "specialized") {
		t.Fatalf("admin credentials for a specialized image: %v", err)
	}
	vm, err = s.createVM(alice, "--name", "p", "--image", "pet")
	if err != nil || vm.ProvisioningState != "Succeeded" {
		t.Fatalf("specialized VM: %v %+v\n%s", err, vm, s.serialLog(alice, "p"))
	}
	log := s.serialLog(alice, "p")
	if !strings.Contains(log, "hostname orig-host, nothing to provision") {
		t.Fatalf("specialized VM lost its identity or was provisioned:\n%s", log)
	}
	s.ok(alice, "vm", "delete", "p", "--yes")
}

// TestKill9ServerWithRunningVMs: VMs outlive a crash of hangar serve, the restarted
// server adopts them, and nothing is orphaned when they are deleted.
func TestKill9ServerWithRunningVMs(t *testing.T) {
	img := testImage(t, "generalized")
	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", img, "--name", "os")
	osImage(s, alice, "base", "os")
	vm, err := s.createVM(alice, "--name", "v1", "--image", "base", "--admin-username", "ops", "--ssh-key-value", newSSHKey(t))
	if err != nil {
		t.Fatal(err)
	}
	before := s.qemuProcesses()
	if len(before) != 1 {
		t.Fatalf("QEMU processes before the crash: %v", before)
	}
	s.kill9()
	if after := s.qemuProcesses(); len(after) != 1 {
		t.Fatalf("the VM did not survive the server's crash: %v", after)
	}
	s.start()
	var got vmJSON
	s.json(alice, &got, "vm", "show", "v1")
	if got.PowerState != "running" || got.ProvisioningState != "Succeeded" || got.ID != vm.ID {
		t.Fatalf("after restart: %+v", got)
	}
	// The adopted VM's agent still answers: run-command through it.
	var res struct {
		ExitCode int    `json:"exitCode"`
		Stdout   string `json:"stdout"`
		Stderr   string `json:"stderr"`
	}
	stdout, _, err := s.hangar(alice, "vm", "run-command", "v1", "--script", "cat /etc/hostname; echo oops >&2; exit 3", "-o", "json")
	if err == nil || json.Unmarshal([]byte(stdout), &res) != nil || res.ExitCode != 3 || strings.TrimSpace(res.Stdout) != "v1" || strings.TrimSpace(res.Stderr) != "oops" {
		t.Fatalf("run-command: %v %+v (%s)", err, res, stdout)
	}
	// The adopted VM is really supervised: stopping it works.
	s.ok(alice, "vm", "stop", "v1")
	if procs := s.qemuProcesses(); len(procs) != 0 {
		t.Fatalf("QEMU still running after stop: %v", procs)
	}
	// A VM killed behind the server's back is noticed.
	s.ok(alice, "vm", "start", "v1")
	procs := s.qemuProcesses()
	if len(procs) != 1 {
		t.Fatalf("after start: %v", procs)
	}
	var pid int
	fmt.Sscan(procs[0], &pid)
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, func() bool {
		var v vmJSON
		s.json(alice, &v, "vm", "show", "v1")
		return v.PowerState == "failed"
	})
	s.ok(alice, "vm", "delete", "v1", "--yes")
	if procs := s.qemuProcesses(); len(procs) != 0 {
		t.Fatalf("orphan QEMU: %v", procs)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.dataDir, "compute", "vms")); len(entries) != 0 {
		t.Fatalf("orphan VM directories: %v", entries)
	}
}

// checkQEMUUnprivileged: when the tests run as root (as CI does), a VM's QEMU
// does not: it dropped to the unprivileged user of serve --qemu-user.
func checkQEMUUnprivileged(t *testing.T, vmID string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(cmdline), "\x00-name\x00"+vmID+"\x00") {
			continue
		}
		status, err := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" && f[1] == "0" {
				t.Fatalf("the VM's QEMU runs as root: %s", line)
			}
		}
		return
	}
	t.Fatalf("no QEMU process for VM %s", vmID)
}
