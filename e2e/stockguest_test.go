package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The stock guests (images/stockguest): Debian's own cloud-init, waagent and
// qemu-guest-agent, no code of ours. Each flavor goes through the whole loop as on
// Azure: provision, report ready by its own agent, deprovision with its own tools,
// generalize, capture, and provision again with a new identity.

// stockFlavor is one stock guest and how its users treat it.
type stockFlavor struct {
	image string // file in HANGAR_STOCKGUEST
	agent string // --provisioning-agent
	// readyBy is what the provisioning message names as the agent that reported.
	readyBy string
	// deprovision is the guest's own generalization, as its documentation says.
	deprovision string
	// removesUser: deprovision removes the provisioned user (waagent's +user).
	removesUser bool
	// keepsMachineID: deprovision leaves /etc/machine-id (waagent alone does,
	// as on Azure). cloud-init 22.4's clean --machine-id deletes the file: systemd
	// 252 then runs with a transient ID, another on every boot (cloud-init 23
	// writes "uninitialized" instead, as Hangar's offline generalize does).
	keepsMachineID bool
	// customDataRuns: the agent runs custom data (cloud-init does; waagent only
	// saves it).
	customDataRuns bool
	// specializedNewHostKeys: a VM from a specialized capture gets new SSH host
	// keys: cloud-init sees a new VM UUID, a new instance, as on Azure.
	specializedNewHostKeys bool
	// firmware: V1 (BIOS) or V2 (UEFI); the image boots with both.
	firmware string
	// provisionedMark is what marks the disk as provisioned to the agent.
	provisionedMark string
	// console is what the first VM's agents say on its console: which agent
	// provisions (waagent's choice) or where cloud-init found its data.
	console string
}

var stockFlavors = map[string]stockFlavor{
	"azure": {image: "azure.raw", agent: "azure", readyBy: "Azure agent",
		deprovision: "cloud-init clean --logs --machine-id && waagent -deprovision+user -force", removesUser: true, customDataRuns: true, specializedNewHostKeys: true,
		firmware: "V2", console: "Using cloud-init for provisioning", provisionedMark: "/var/lib/cloud/instance"},
	"waagent": {image: "waagent.raw", agent: "azure", readyBy: "Azure agent",
		deprovision: "waagent -deprovision+user -force", removesUser: true, keepsMachineID: true,
		firmware: "V1", console: "Using waagent for provisioning", provisionedMark: "/var/lib/waagent/provisioned"},
	"nocloud": {image: "nocloud.raw", agent: "nocloud", readyBy: "cloud-init",
		deprovision: "cloud-init clean --logs --machine-id", customDataRuns: true,
		firmware: "V1", console: "Datasource DataSourceNoCloud", provisionedMark: "/var/lib/cloud/instance"},
}

// stockGuestDir is HANGAR_STOCKGUEST, the directory of the built stock guests.
func stockGuestDir(t *testing.T) string {
	t.Helper()
	needVMTools(t)
	dir := os.Getenv("HANGAR_STOCKGUEST")
	if dir == "" {
		t.Skip("HANGAR_STOCKGUEST is not set: build the stock guests (make stockguest) and set it to images/stockguest/out")
	}
	return dir
}

func TestStockGuestAzure(t *testing.T)   { stockGuestLoop(t, "azure") }
func TestStockGuestWaagent(t *testing.T) { stockGuestLoop(t, "waagent") }
func TestStockGuestNoCloud(t *testing.T) { stockGuestLoop(t, "nocloud") }

// identity is what run-command reads of a guest's identity, once cloud-init (if
// it runs) is done: an Azure guest reports ready before cloud-init's last stage,
// which runs the custom data.
const identityScript = `[ -f /etc/cloud/cloud-init.disabled ] || cloud-init status --wait >/dev/null 2>&1
echo "host=$(hostname)"
getent passwd | awk -F: '$3 >= 1000 && $3 < 65534 { print "user=" $1 }'
for f in /home/*/.ssh/authorized_keys; do [ -f "$f" ] && echo "key=$f $(cat "$f" | tr '\n' ' ')"; done
echo "hostkey=$(cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null | cut -d' ' -f2)"
echo "machine-id=$(cat /etc/machine-id 2>/dev/null || cat /run/machine-id 2>/dev/null)"
[ -s /etc/machine-id ] || echo machine-id-transient=yes
[ -f /var/tmp/custom-data-ran ] && echo custom-data-ran
[ -f /var/lib/waagent/CustomData ] && echo "custom-data-saved=$(cat /var/lib/waagent/CustomData)"
true
`

// customData is run by cloud-init as a user-data script.
const customData = "#!/bin/sh\necho yes > /var/tmp/custom-data-ran\n"

func stockGuestLoop(t *testing.T, flavor string) {
	f := stockFlavors[flavor]
	dir := stockGuestDir(t)
	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", filepath.Join(dir, f.image), "--name", "stock")
	osImage(s, alice, "stock", "stock", "--provisioning-agent", f.agent, "--hyperv-generation", f.firmware)
	files := t.TempDir()
	cd, ud := filepath.Join(files, "custom"), filepath.Join(files, "user")
	os.WriteFile(cd, []byte(customData), 0o600)
	os.WriteFile(ud, []byte("user data for the app"), 0o600)

	key1 := newSSHKey(t)
	vm, err := s.createVM(alice, "--name", "v1", "--image", "stock", "--computer-name", "first-host", "--admin-username", "first",
		"--ssh-key-value", key1, "--custom-data", cd, "--user-data", ud, "--provisioning-timeout", "10m")
	if err != nil || vm.ProvisioningState != "Succeeded" || !strings.Contains(vm.ProvisioningMessage, f.readyBy) {
		t.Fatalf("%s guest: %v %+v, want Succeeded, reported by %s\n%s", flavor, err, vm, f.readyBy, tail(s.serialLog(alice, "v1"), 60))
	}
	first := guestIdentity(t, s, alice, "v1")
	// waagent may say it after cloud-init reported ready.
	eventually(t, 2*time.Minute, fmt.Sprintf("%q on the %s guest's console", f.console, flavor), func() bool {
		return strings.Contains(s.serialLog(alice, "v1"), f.console)
	})
	if first["host"] != "first-host" || first["user"] != "first" || !strings.Contains(first["key"], "/home/first/.ssh/authorized_keys "+key1) {
		t.Fatalf("%s guest was not provisioned as asked: %v", flavor, first)
	}
	if first["hostkey"] == "" || first["machine-id"] == "" || first["machine-id"] == "uninitialized" {
		t.Fatalf("%s guest has no host key or machine ID of its own: %v", flavor, first)
	}
	switch {
	case f.customDataRuns && first["custom-data-ran"] != "yes":
		t.Fatalf("%s guest: the custom data script did not run: %v", flavor, first)
	case !f.customDataRuns && first["custom-data-saved"] == "":
		t.Fatalf("%s guest: waagent did not save the custom data: %v", flavor, first)
	}
	if flavor != "nocloud" {
		checkIMDS(t, s, alice, "v1", "first-host", "user data for the app")
	}

	// The guest's own deprovisioning, then generalize and capture.
	if res, _, err := s.runCommand(alice, "v1", f.deprovision); err != nil || res.ExitCode != 0 {
		t.Fatalf("%s: %v %+v", f.deprovision, err, res)
	}
	s.ok(alice, "vm", "stop", "v1")
	s.ok(alice, "vm", "generalize", "v1", "--yes")
	s.ok(alice, "vm", "capture", "v1", "--image-name", "golden")

	key2 := newSSHKey(t)
	vm, err = s.createVM(alice, "--name", "v2", "--image", "golden", "--computer-name", "second-host", "--admin-username", "second",
		"--ssh-key-value", key2, "--provisioning-timeout", "10m")
	if err != nil || vm.ProvisioningState != "Succeeded" || !strings.Contains(vm.ProvisioningMessage, f.readyBy) {
		t.Fatalf("%s guest from the captured image: %v %+v\n%s", flavor, err, vm, tail(s.serialLog(alice, "v2"), 60))
	}
	second := guestIdentity(t, s, alice, "v2")
	if second["host"] != "second-host" || !strings.Contains(second["user"], "second") || !strings.Contains(second["key"], "/home/second/.ssh/authorized_keys "+key2) {
		t.Fatalf("%s guest from the captured image was not provisioned again: %v", flavor, second)
	}
	if second["hostkey"] == "" || second["hostkey"] == first["hostkey"] || (second["machine-id"] == first["machine-id"]) != f.keepsMachineID {
		t.Fatalf("%s guest from the captured image kept the first VM's host key or machine ID: %v, first %v", flavor, second, first)
	}
	if f.removesUser && (strings.Contains(second["user"], "first") || strings.Contains(second["key"], key1)) {
		t.Fatalf("%s: the first VM's user or key survived deprovisioning: %v", flavor, second)
	}

	// A specialized capture boots as the VM it was: same host name, users and
	// keys (host keys too, but where cloud-init sees a new VM UUID), nothing
	// provisioned, and still ready by the guest's own agent.
	s.ok(alice, "vm", "stop", "v2")
	s.ok(alice, "vm", "capture", "v2", "--image-name", "snap", "--os-state", "specialized")
	s.ok(alice, "vm", "delete", "v2", "--yes")
	vm, err = s.createVM(alice, "--name", "v3", "--image", "snap", "--provisioning-timeout", "10m")
	if err != nil || vm.ProvisioningState != "Succeeded" || !strings.Contains(vm.ProvisioningMessage, "specialized image: nothing provisioned") || !strings.Contains(vm.ProvisioningMessage, f.readyBy) {
		t.Fatalf("%s guest from a specialized capture: %v %+v\n%s", flavor, err, vm, tail(s.serialLog(alice, "v3"), 60))
	}
	third := guestIdentity(t, s, alice, "v3")
	if third["user"] != second["user"] || third["key"] != second["key"] || third["host"] != second["host"] ||
		(third["hostkey"] == second["hostkey"]) == f.specializedNewHostKeys {
		t.Errorf("%s guest from a specialized capture is not the VM it was: %v, was %v", flavor, third, second)
	}
	s.ok(alice, "vm", "delete", "v3", "--yes")

	// The same disk generalized offline, without the guest's tools (Hangar's
	// appliance): the stock agent provisions it again, and the old user is gone
	// where the agent recorded it (the Azure agents' ovf-env.xml). This VM's custom
	// data script fails: cloud-init's words reach the user where cloud-init's end
	// is what reports (NoCloud); an Azure guest reported ready before it ran, as on Azure.
	// First, offline on the stopped disk, what provisioning left there (read inside
	// the appliance: nothing on the host reads a guest's file system).
	var dry struct {
		Changes []string `json:"changes"`
	}
	s.json(alice, &dry, "disk", "generalize", "snap-1.0.0-os", "--remove-user", "--dry-run")
	left := []string{"/etc/ssh/ssh_host_ed25519_key", f.provisionedMark}
	if f.removesUser {
		left = append(left, "/home/second")
	}
	for _, p := range left {
		if !slices.ContainsFunc(dry.Changes, func(c string) bool { return strings.HasPrefix(c, "remove "+p+": ") }) {
			t.Errorf("%s: the stopped disk holds no %s to remove: %q", flavor, p, dry.Changes)
		}
	}
	s.ok(alice, "disk", "generalize", "snap-1.0.0-os", "--name", "offline", "--remove-user")
	osImage(s, alice, "offline", "offline", "--provisioning-agent", f.agent, "--hyperv-generation", f.firmware)
	os.WriteFile(cd, []byte("#!/bin/sh\necho 'the app did not install' >&2\nexit 3\n"), 0o600)
	key3 := newSSHKey(t)
	vm, err = s.createVM(alice, "--name", "v4", "--image", "offline", "--computer-name", "fourth-host", "--admin-username", "fourth",
		"--ssh-key-value", key3, "--custom-data", cd, "--provisioning-timeout", "10m")
	wantState := "Succeeded"
	if f.agent == "nocloud" {
		wantState = "Failed"
	}
	if vm.ProvisioningState != wantState || !strings.Contains(vm.ProvisioningMessage, f.readyBy) ||
		(wantState == "Failed" && !strings.Contains(vm.ProvisioningMessage, "scripts-user")) {
		t.Fatalf("%s guest from the offline-generalized image, with a failing custom data script: %v %+v, want %s\n%s",
			flavor, err, vm, wantState, tail(s.serialLog(alice, "v4"), 60))
	}
	fourth := guestIdentity(t, s, alice, "v4")
	if fourth["host"] != "fourth-host" || !strings.Contains(fourth["key"], "/home/fourth/.ssh/authorized_keys "+key3) ||
		fourth["hostkey"] == "" || fourth["hostkey"] == second["hostkey"] {
		t.Fatalf("%s guest from the offline-generalized image was not provisioned again: %v, was %v", flavor, fourth, second)
	}
	if fourth["machine-id"] == "" || fourth["machine-id"] == second["machine-id"] || fourth["machine-id-transient"] != "" {
		t.Fatalf("%s guest from the offline-generalized image has no machine ID of its own on disk: %v", flavor, fourth)
	}
	if f.removesUser && strings.Contains(fourth["user"], "second") {
		t.Fatalf("%s: offline generalize --remove-user left the user the agent recorded: %v", flavor, fourth)
	}
	s.ok(alice, "vm", "delete", "v4", "--yes")
}

// guestIdentity reads a guest's identity through run-command (qemu-guest-agent).
func guestIdentity(t *testing.T, s *server, key, vm string) map[string]string {
	t.Helper()
	res, stderr, err := s.runCommand(key, vm, identityScript)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("reading %s's identity: %v %+v %s", vm, err, res, stderr)
	}
	id := map[string]string{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		k, v, _ := strings.Cut(line, "=")
		if k == "custom-data-ran" {
			v = "yes"
		}
		if id[k] != "" {
			v = id[k] + "," + v
		}
		id[k] = v
	}
	return id
}

// checkIMDS asks IMDS from inside the guest, as software on an Azure VM does: it
// answers with the header only, and tells the VM its own name and user data.
func checkIMDS(t *testing.T, s *server, key, vm, computerName, userData string) {
	t.Helper()
	script := `python3 - <<'EOF'
import urllib.request, urllib.error
base = "http://169.254.169.254/metadata/instance/compute/"
try:
    urllib.request.urlopen(base + "name?api-version=2021-08-01&format=text", timeout=10)
    print("without-header=200")
except urllib.error.HTTPError as e:
    print("without-header=%d" % e.code)
for leaf in ("osProfile/computerName", "userData"):
    req = urllib.request.Request(base + leaf + "?api-version=2021-08-01&format=text", headers={"Metadata": "true"})
    print(leaf + "=" + urllib.request.urlopen(req, timeout=10).read().decode())
EOF`
	res, stderr, err := s.runCommand(key, vm, script)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("asking IMDS in %s: %v %+v %s", vm, err, res, stderr)
	}
	want := []string{"without-header=400", "osProfile/computerName=" + computerName,
		"userData=" + base64.StdEncoding.EncodeToString([]byte(userData))}
	for _, w := range want {
		if !strings.Contains(res.Stdout, w) {
			t.Fatalf("IMDS as %s's guest sees it: %q, want %q", vm, res.Stdout, w)
		}
	}
}
