package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// platformScript asks, from inside a test guest (busybox wget), for what Azure's
// platform tells the guest about itself: IMDS's name and vmId, and the goal
// state's container and instance IDs.
const platformScript = `imds() { wget -q -O - --header 'Metadata: true' "http://169.254.169.254/metadata/instance/compute/$1?api-version=2021-02-01&format=text"; echo; }
echo "name=$(imds name)"
echo "vmId=$(imds vmId)"
gs=$(wget -q -O - --header 'x-ms-version: 2012-11-30' 'http://168.63.129.16/machine/?comp=goalstate' | tr -d '\n')
echo "container=$(echo "$gs" | sed -n 's:.*<ContainerId>\([^<]*\)</ContainerId>.*:\1:p')"
echo "instance=$(echo "$gs" | sed -n 's:.*<InstanceId>\([^<]*\)</InstanceId>.*:\1:p')"
`

// healthScript posts a failure health report naming container c and instance i,
// as a guest agent would, and prints the WireServer's answer.
func healthScript(c, i, description string) string {
	report := `<?xml version="1.0" encoding="utf-8"?><Health><GoalStateIncarnation>1</GoalStateIncarnation><Container><ContainerId>` + c +
		`</ContainerId><RoleInstanceList><Role><InstanceId>` + i + `</InstanceId><Health><State>NotReady</State><Details>` +
		`<SubStatus>ProvisioningFailed</SubStatus><Description>` + description + `</Description></Details></Health></Role></RoleInstanceList></Container></Health>`
	return fmt.Sprintf(`wget -S -O /dev/null --header 'x-ms-version: 2012-11-30' --header 'Content-Type: text/xml;charset=utf-8' --post-data '%s' 'http://168.63.129.16/machine?comp=health' 2>&1 | grep -o 'HTTP/1.1 [0-9]*' | head -n 1`, report)
}

// TestPlatformBoundary is issue 11's boundary: each VM's Azure platform (IMDS and
// the WireServer) is its own. Two VMs of one tenant each see only their own name,
// vmId and goal state; one cannot read the other's goal-state documents by their
// IDs, and a health report naming the other VM is refused and changes nothing of
// it, while the same report naming itself reaches its own VM (so the refusal is
// not a channel that never works).
func TestPlatformBoundary(t *testing.T) {
	img := testImage(t, "generalized")
	s := startServer(t)
	alice := s.tenant("alice")
	s.ok(alice, "disk", "upload", img, "--name", "os")
	osImage(s, alice, "base", "os")
	seen := map[string]map[string]string{}
	ids := map[string]string{}
	for _, name := range []string{"a", "b"} {
		vm, err := s.createVM(alice, "--name", name, "--image", "base", "--admin-username", "ops", "--ssh-key-value", newSSHKey(t))
		if err != nil || vm.ProvisioningState != "Succeeded" {
			t.Fatalf("vm create %s: %v %+v", name, err, vm)
		}
		ids[name] = vm.ID
		seen[name] = keyValues(s.runScript(alice, name, platformScript))
	}
	for name, got := range seen {
		// IMDS writes the VM's ID as a UUID.
		if got["name"] != name || strings.ReplaceAll(got["vmId"], "-", "") != ids[name] || got["container"] == "" || got["instance"] == "" {
			t.Errorf("VM %s sees %v; want its own name and vmId %s, and a goal state", name, got, ids[name])
		}
	}
	a, b := seen["a"], seen["b"]
	if a["container"] == b["container"] || a["instance"] == b["instance"] {
		t.Fatalf("two VMs share a goal state: a %v, b %v", a, b)
	}

	// a asks for b's hosting environment by b's IDs: not found; its own: found.
	doc := `wget -q -O - --header 'x-ms-version: 2012-11-30' 'http://168.63.129.16/machine/%s/%s?comp=config&type=hostingEnvironmentConfig' >/dev/null 2>&1 && echo found || echo refused`
	if out := strings.TrimSpace(s.runScript(alice, "a", fmt.Sprintf(doc, b["container"], b["instance"]))); out != "refused" {
		t.Errorf("a read b's hosting environment config: %q", out)
	}
	if out := strings.TrimSpace(s.runScript(alice, "a", fmt.Sprintf(doc, a["container"], a["instance"]))); out != "found" {
		t.Errorf("a could not read its own hosting environment config: %q", out)
	}

	// a forges b's failure: refused, and b is as it was.
	if out := strings.TrimSpace(s.runScript(alice, "a", healthScript(b["container"], b["instance"], "forged by a"))); out != "HTTP/1.1 400" {
		t.Errorf("a's health report naming b was answered %q, want HTTP/1.1 400", out)
	}
	if out := strings.TrimSpace(s.runScript(alice, "a", healthScript(a["container"], a["instance"], "a reports itself"))); out != "HTTP/1.1 200" {
		t.Errorf("a's own health report was answered %q, want HTTP/1.1 200", out)
	}
	var va, vb vmJSON
	eventually(t, time.Minute, "a's own report in its provisioning message", func() bool {
		s.json(alice, &va, "vm", "show", "a")
		return strings.Contains(va.ProvisioningMessage, "a reports itself")
	})
	s.json(alice, &vb, "vm", "show", "b")
	if vb.ProvisioningState != "Succeeded" || strings.Contains(vb.ProvisioningMessage, "forged") || va.ProvisioningState != "Succeeded" {
		t.Errorf("after the forged report: a %+v, b %+v", va, vb)
	}
}

// keyValues parses KEY=VALUE lines.
func keyValues(out string) map[string]string {
	kv := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = strings.TrimSpace(v)
		}
	}
	return kv
}
