package compute

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestArgsGolden(t *testing.T) {
	tests := []struct {
		name string
		c    MachineConfig
	}{
		{"bios-generalized", MachineConfig{
			Name: "vm1", Dir: "/data/vms/vm1", QMPSocket: "/data/vms/vm1/qmp.sock", AgentSocket: "/data/vms/vm1/agent.sock", GuestAgentSocket: "/data/vms/vm1/qga.sock", VCPUs: 1, MemoryMiB: 512, Accel: "tcg",
			Disks:  []MachineDisk{{"os", "/data/vms/vm1/os.qcow2"}, {"lun0", "/data/vms/vm1/lun0.qcow2"}, {"lun1", "/data/vms/vm1/lun1.qcow2"}},
			Medium: "/data/vms/vm1/cidata.iso", MediumAs: MediumVirtio | MediumCD, NetSocket: "/data/vms/vm1/net.sock", Sandbox: true,
			SystemUUID: "6f1c2a3e-0d4b-4c5a-9e8f-1a2b3c4d5e6f", AssetTag: "7783-7084-3265-9085-8269-3286-77",
		}},
		{"uefi-specialized", MachineConfig{
			Name: "vm2", Dir: "/data/vms/vm2", QMPSocket: "/run/hangar-1a2b3c/vm2/qmp.sock", AgentSocket: "/run/hangar-1a2b3c/vm2/agent.sock", GuestAgentSocket: "/run/hangar-1a2b3c/vm2/qga.sock", VCPUs: 2, MemoryMiB: 1024, Accel: "kvm", UEFI: true, Firmware: "/usr/share/ovmf/OVMF.fd",
			Disks: []MachineDisk{{"os", "/data/vms/vm2/os.qcow2"}}, NetSocket: "/run/hangar-1a2b3c/vm2/net.sock",
		}},
		{"bios-runas", MachineConfig{
			Name: "vm3", Dir: "/data/vms/vm3", QMPSocket: "/data/vms/vm3/qmp.sock", AgentSocket: "/data/vms/vm3/agent.sock", GuestAgentSocket: "/data/vms/vm3/qga.sock", VCPUs: 1, MemoryMiB: 512, Accel: "tcg",
			Disks: []MachineDisk{{"os", "/data/vms/vm3/os.qcow2"}}, NetSocket: "/data/vms/vm3/net.sock", Sandbox: true, RunAs: "hangar-qemu",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(Args(tt.c), "\n") + "\n"
			path := filepath.Join("testdata", tt.name+".args")
			if *update {
				os.WriteFile(path, []byte(got), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("QEMU arguments changed; if intended, run go test ./internal/compute -run Golden -update\ngot:\n%s", got)
			}
		})
	}
}

func TestSocketPathFitsUnixLimit(t *testing.T) {
	id := "9869894ace47381d586f84be560883a7"
	short := &Manager{cfg: Config{Dir: "/var/lib/hangar/compute"}}
	if got := short.socketPath(id, agentSocket); got != "/var/lib/hangar/compute/vms/"+id+"/agent.sock" {
		t.Fatalf("short data dir: %s", got)
	}
	long := &Manager{cfg: Config{Dir: "/tmp/TestOfflineGeneralizeThenProvision1899957606/001/compute"}}
	a, b := long.socketPath(id, agentSocket), long.socketPath(id, agentSocket)
	if len(a) >= 108 || a != b || !strings.HasSuffix(a, "/agent.sock") {
		t.Fatalf("long data dir: %q (%d bytes), stable %v", a, len(a), a == b)
	}
	// A data dir where only the longer socket name passes the limit: both sockets
	// must still share one directory.
	for n := 40; n < 70; n++ {
		m := &Manager{cfg: Config{Dir: "/" + strings.Repeat("d", n)}}
		if dir := filepath.Dir(m.socketPath(id, agentSocket)); filepath.Dir(m.socketPath(id, qmpSocket)) != dir || filepath.Dir(m.socketPath(id, qgaSocket)) != dir {
			t.Fatalf("data dir of %d bytes splits the sockets over two directories", n+1)
		}
	}
}

// A machine without a network socket has no NIC at all (no slirp either).
func TestArgsWithoutNetwork(t *testing.T) {
	args := strings.Join(Args(MachineConfig{Name: "a", Dir: "/d", QMPSocket: "/d/q", AgentSocket: "/d/a", VCPUs: 1, MemoryMiB: 256, Accel: "tcg"}), " ")
	if strings.Contains(args, "-netdev") || strings.Contains(args, "-nic") || !strings.Contains(args, "-nodefaults") {
		t.Fatalf("args: %s", args)
	}
}

// TestArgsEscapeCommas: a path with a comma stays one value in QEMU's option
// lists instead of adding options.
func TestArgsEscapeCommas(t *testing.T) {
	c := MachineConfig{Name: "vm", Dir: "/data,x/vm", QMPSocket: "/data,x/q.sock", AgentSocket: "/data,x/a.sock", GuestAgentSocket: "/data,x/g.sock", NetSocket: "/data,x/n.sock",
		VCPUs: 1, MemoryMiB: 64, Accel: "tcg", Disks: []MachineDisk{{"os", "/data,x/vm/os.qcow2,format=raw"}}, Medium: "/data,x/m.iso"}
	for _, a := range Args(c) {
		// Option lists (key=value,...) must double the comma; plain arguments
		// (-pidfile FILE) take it as it is.
		if strings.Contains(a, "=") && (strings.Contains(a, "/data,x") || strings.Contains(a, "os.qcow2,format=raw")) {
			t.Errorf("unescaped comma: %s", a)
		}
	}
}
