package compute

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hangarvm/hangar/internal/netstack"
)

// MachineConfig is everything QEMU needs to run one VM. All paths are absolute and
// under the VM's directory or the base cache.
type MachineConfig struct {
	Name string // for -name (the VM's ID)
	Dir  string // the VM's directory: logs, pid file
	// QMPSocket and AgentSocket are unix sockets: usually in Dir, elsewhere when Dir
	// is too long for a socket path (108 bytes).
	QMPSocket, AgentSocket string
	// GuestAgentSocket is the unix socket of the port qemu-guest-agent opens in
	// stock guests (GuestAgentPort), next to AgentSocket; "" for no such port.
	GuestAgentSocket string
	VCPUs            int
	MemoryMiB        int
	Accel            string // kvm or tcg
	UEFI             bool   // Hyper-V generation V2
	Firmware         string // OVMF image when UEFI
	// Disks in attach order: the OS disk, then data disks by LUN.
	Disks []MachineDisk
	// Medium is the provisioning disc, attached read-only after every disk; "" for
	// none. MediumAs says how the guest sees it.
	Medium   string
	MediumAs MediumDevices
	// SystemUUID is the SMBIOS system UUID (the guest's product_uuid): cloud-init
	// and waagent take it as the instance's identity. "" lets QEMU choose none.
	SystemUUID string
	// AssetTag is the SMBIOS chassis asset tag: Azure's (fabric.AssetTag) tells
	// cloud-init it runs on Azure.
	AssetTag string
	// NetSocket is the unix socket QEMU listens on for the VM's network (hangar
	// serve connects to it; see internal/netstack); "" for a VM without a NIC.
	NetSocket string
	Sandbox   bool
	// RunAs is the unprivileged user QEMU switches to once it has opened its
	// files (-runas); "" keeps hangar serve's.
	RunAs string
}

// MediumDevices says as which devices the provisioning disc is attached.
type MediumDevices int

const (
	// MediumVirtio: a read-only virtio disk with serial "cidata", which
	// hangar-agent's small initramfs reads.
	MediumVirtio MediumDevices = 1 << iota
	// MediumCD: an IDE CD-ROM, where Azure puts its disc: waagent looks at
	// /dev/sr0 first and would take a virtio data disk (vd[b-z]) for the disc.
	MediumCD
)

// MachineDisk is one qcow2 overlay.
type MachineDisk struct {
	ID   string // device id: os, lun0, lun1, ...
	Path string
}

// Socket and log file names inside a VM's directory.
const (
	qmpSocket   = "qmp.sock"
	agentSocket = "agent.sock" // the longest name: socketDir
	qgaSocket   = "qga.sock"
	serialLog   = "serial.log"
	pidFile     = "qemu.pid"
	qemuLog     = "qemu.log"
	// AgentPort is the virtio-serial port name the guest agent opens.
	AgentPort = "org.hangar.agent.0"
	// GuestAgentPort is the virtio-serial port name qemu-guest-agent opens (its
	// default path in the guest is /dev/virtio-ports/org.qemu.guest_agent.0).
	GuestAgentPort = "org.qemu.guest_agent.0"
)

// Chardev IDs of the guest agents' ports, as query-chardev lists them.
const (
	agentChardev = "agent"
	qgaChardev   = "qga"
)

// Args returns QEMU's command line (without the program name) for c. It is a pure
// function: the same config gives the same arguments. The VM starts paused (-S);
// the Manager resumes it over QMP once it is supervised.
func Args(c MachineConfig) []string {
	a := []string{
		"-name", c.Name,
		"-machine", "pc,accel=" + c.Accel,
	}
	if c.SystemUUID != "" {
		a = append(a, "-uuid", c.SystemUUID)
	}
	if c.AssetTag != "" {
		a = append(a, "-smbios", "type=3,asset="+optionValue(c.AssetTag))
	}
	a = append(a,
		"-smp", strconv.Itoa(c.VCPUs),
		"-m", strconv.Itoa(c.MemoryMiB),
		"-nodefaults", "-no-user-config", "-display", "none", "-S",
		"-pidfile", filepath.Join(c.Dir, pidFile),
		"-chardev", "socket,id=qmp,path="+optionValue(c.QMPSocket)+",server=on,wait=off",
		"-mon", "chardev=qmp,mode=control",
		"-chardev", "file,id=serial0,path="+optionValue(filepath.Join(c.Dir, serialLog))+",append=on",
		"-serial", "chardev:serial0",
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", "socket,id="+agentChardev+",path="+optionValue(c.AgentSocket)+",server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev="+agentChardev+",name="+AgentPort,
	)
	if c.GuestAgentSocket != "" {
		a = append(a,
			"-chardev", "socket,id="+qgaChardev+",path="+optionValue(c.GuestAgentSocket)+",server=on,wait=off",
			"-device", "virtserialport,bus=vser0.0,chardev="+qgaChardev+",name="+GuestAgentPort)
	}
	a = append(a,
		"-object", "rng-random,id=rng0,filename=/dev/urandom",
		"-device", "virtio-rng-pci,rng=rng0")
	if c.NetSocket != "" {
		a = append(a,
			"-netdev", "stream,id=net0,server=on,addr.type=unix,addr.path="+optionValue(c.NetSocket),
			"-device", "virtio-net-pci,netdev=net0,mac="+netstack.GuestMAC)
	}
	if c.UEFI {
		a = append(a, "-bios", c.Firmware)
	}
	for i, d := range c.Disks {
		a = append(a,
			"-drive", "file="+optionValue(d.Path)+",if=none,id=drive-"+d.ID+",format=qcow2,cache=writeback,discard=unmap",
			"-device", "virtio-blk-pci,drive=drive-"+d.ID+",id="+d.ID+",serial="+d.ID+bootIndex(i))
	}
	if c.Medium != "" && c.MediumAs&MediumVirtio != 0 {
		a = append(a,
			"-drive", "file="+optionValue(c.Medium)+",if=none,id=drive-medium,format=raw,readonly=on",
			"-device", "virtio-blk-pci,drive=drive-medium,id=medium,serial=cidata")
	}
	if c.Medium != "" && c.MediumAs&MediumCD != 0 {
		a = append(a,
			"-drive", "file="+optionValue(c.Medium)+",if=none,id=drive-cd,format=raw,media=cdrom,readonly=on",
			"-device", "ide-cd,drive=drive-cd,id=cd,bus=ide.1,unit=0")
	}
	switch {
	case c.Sandbox && c.RunAs != "":
		// QEMU switches user after its sandbox is in place, so the sandbox must
		// let it do that once; from then on it has no privilege to regain.
		a = append(a, "-sandbox", "on,obsolete=deny,spawn=deny,resourcecontrol=deny")
	case c.Sandbox:
		a = append(a, "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny")
	}
	if c.RunAs != "" {
		a = append(a, "-runas", c.RunAs)
	}
	return a
}

func bootIndex(i int) string {
	if i == 0 {
		return ",bootindex=0"
	}
	return ""
}

// optionValue escapes a value inside a QEMU option list, where a comma ends the
// value unless doubled: a path with a comma would otherwise add options.
func optionValue(v string) string { return strings.ReplaceAll(v, ",", ",,") }
