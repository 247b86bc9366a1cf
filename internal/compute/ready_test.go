package compute

import (
	"encoding/base64"
	"regexp"
	"slices"
	"testing"

	"github.com/hangarvm/hangar/internal/fabric"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// TestHeeds: a VM takes the reports of the agent its image names, and of any
// agent when the image says auto.
func TestHeeds(t *testing.T) {
	all := []agentSource{agentFromHangar, agentFromAzure, agentFromNoCloud}
	for _, tt := range []struct {
		want  hangar.ProvisioningAgent
		heeds []agentSource
	}{
		{hangar.AgentAuto, all},
		{hangar.AgentAzure, []agentSource{agentFromAzure}},
		{hangar.AgentNoCloud, []agentSource{agentFromNoCloud}},
		{hangar.AgentHangar, []agentSource{agentFromHangar}},
		{hangar.AgentNone, nil},
	} {
		for _, from := range all {
			want := slices.Contains(tt.heeds, from)
			if got := heeds(tt.want, from); got != want {
				t.Errorf("image agent %s, report from %s: heeds %v, want %v", tt.want, from.name(), got, want)
			}
		}
	}
}

// TestMediumDevices: waagent and cloud-init find the disc on a CD, hangar-agent
// on a virtio disk; an image that does not say gets both.
func TestMediumDevices(t *testing.T) {
	for agent, want := range map[hangar.ProvisioningAgent]MediumDevices{
		hangar.AgentAuto: MediumVirtio | MediumCD, hangar.AgentNone: MediumVirtio | MediumCD,
		hangar.AgentAzure: MediumCD, hangar.AgentNoCloud: MediumCD, hangar.AgentHangar: MediumVirtio,
	} {
		if got := mediumDevices(agent); got != want {
			t.Errorf("%s: %b, want %b", agent, got, want)
		}
	}
}

// TestHealthMessage: only NotReady with ProvisioningFailed is a failure, and it
// carries the agent's own words.
func TestHealthMessage(t *testing.T) {
	for _, tt := range []struct {
		h          fabric.Health
		typ, words string
	}{
		{fabric.Health{State: "Ready"}, "ready", ""},
		{fabric.Health{State: "NotReady", SubStatus: "Provisioning", Description: "Starting"}, "waiting", "Provisioning Starting"},
		{fabric.Health{State: "NotReady", SubStatus: "ProvisioningFailed", Description: "useradd: invalid user name"}, "failure", "useradd: invalid user name"},
		{fabric.Health{State: "NotReady", SubStatus: "ProvisioningFailed"}, "failure", "the agent gave no reason"},
	} {
		msg := healthMessage(tt.h)
		if msg.Type != tt.typ || msg.Reason != tt.words || msg.from != agentFromAzure {
			t.Errorf("%+v: %s %q from %s, want %s %q from the Azure agent", tt.h, msg.Type, msg.Reason, msg.from.name(), tt.typ, tt.words)
		}
	}
}

// TestCloudInitReport: cloud-init's status, as qemu-guest-agent brings it back.
func TestCloudInitReport(t *testing.T) {
	for _, tt := range []struct {
		res        hangar.RunCommandResult
		typ, words string
	}{
		{hangar.RunCommandResult{ExitCode: 0, Stdout: "\nstatus: done\n"}, "ready", ""},
		{hangar.RunCommandResult{ExitCode: 1, Stdout: "status: error\ndetail:\n('scripts-user', RuntimeError('Runparts: 1 failures'))\n"}, "failure", "Runparts: 1 failures"},
		// --wait's dots are not the guest's words.
		{hangar.RunCommandResult{ExitCode: 1, Stdout: "......\nstatus: error\n"}, "failure", "^status: error$"},
		{hangar.RunCommandResult{ExitCode: 2, Stdout: "status: degraded done\n"}, "failure", "degraded"},
		{hangar.RunCommandResult{ExitCode: 127, Stderr: "sh: cloud-init: not found\n"}, "waiting", "not installed"},
		{hangar.RunCommandResult{ExitCode: 3}, "failure", "exited with 3 and said nothing"},
	} {
		msg := cloudInitReport(tt.res)
		if msg.Type != tt.typ || !regexp.MustCompile(tt.words).MatchString(msg.Reason) || msg.from != agentFromNoCloud {
			t.Errorf("%+v: %s %q, want %s with %q", tt.res, msg.Type, msg.Reason, tt.typ, tt.words)
		}
	}
}

// TestPlatformInstance: what IMDS and the goal state tell a guest comes from its
// own VM, and every VM has its own identity.
func TestPlatformInstance(t *testing.T) {
	m := &Manager{cfg: Config{Host: HostConfig{Region: "westeurope"}}}
	vm := &store.VM{VM: hangar.VM{ID: "0123456789abcdef0123456789abcdef", Name: "web1", ComputerName: "web01", OSType: hangar.OSLinux,
		Size: hangar.VMSize{Name: "small"}}, TenantID: "fedcba9876543210fedcba9876543210"}
	inst := m.platformInstance(vm, platformFacts{AdminUsername: "azureuser", DisablePasswordAuthentication: true,
		SSHPublicKeys: []string{"ssh-ed25519 AAAAC3 alice\n"}, UserData: []byte("hello")})
	if inst.VMID != "01234567-89ab-cdef-0123-456789abcdef" || inst.ComputerName != "web01" || inst.Name != "web1" || inst.Location != "westeurope" {
		t.Errorf("identity: %+v", inst)
	}
	if len(inst.PublicKeys) != 1 || inst.PublicKeys[0].Path != "/home/azureuser/.ssh/authorized_keys" || inst.PublicKeys[0].KeyData != "ssh-ed25519 AAAAC3 alice" {
		t.Errorf("keys: %+v", inst.PublicKeys)
	}
	if ud, _ := base64.StdEncoding.DecodeString(inst.UserData); string(ud) != "hello" {
		t.Errorf("user data %q", inst.UserData)
	}
	if inst.Network.MAC.String() != "52:54:00:12:34:56" || inst.Network.PrivateIPv4.String() != "10.0.0.4/24" {
		t.Errorf("network: %+v", inst.Network)
	}
	other := *vm
	other.ID = "1111111111111111aaaaaaaaaaaaaaaa"
	if m.platformInstance(&other, platformFacts{}).VMID == inst.VMID {
		t.Error("two VMs share a VM ID")
	}
}

// TestPlatformFactsSurviveARestart: the facts are read back as written, and a VM
// made before they were kept has none (not an error).
func TestPlatformFactsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	if f, err := readPlatformFacts(dir); err != nil || f.AdminUsername != "" {
		t.Fatalf("no file: %+v %v", f, err)
	}
	want := platformFacts{AdminUsername: "ops", SSHPublicKeys: []string{"ssh-ed25519 AAAA"}, UserData: []byte{0, 1, 2}}
	if err := writePlatformFacts(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := readPlatformFacts(dir)
	if err != nil || got.AdminUsername != "ops" || len(got.SSHPublicKeys) != 1 || string(got.UserData) != "\x00\x01\x02" {
		t.Fatalf("%+v %v", got, err)
	}
}
