package hangar

import "time"

// PowerState is a VM's power state, as Azure names them.
type PowerState string

// Power states. A generalized VM can never start again.
const (
	PowerCreating    PowerState = "creating"
	PowerRunning     PowerState = "running"
	PowerStopping    PowerState = "stopping"
	PowerStopped     PowerState = "stopped"
	PowerDeallocated PowerState = "deallocated"
	PowerGeneralized PowerState = "generalized"
	PowerFailed      PowerState = "failed"
	PowerDeleting    PowerState = "deleting"
	// PowerUnknown is the state of a VM whose host stopped heartbeating: it may or
	// may not still run, so it is never started anywhere else.
	PowerUnknown PowerState = "unknown"
)

// ProvisioningState says how provisioning from the image went.
type ProvisioningState string

// Provisioning states.
const (
	ProvisioningCreating  ProvisioningState = "Creating"
	ProvisioningSucceeded ProvisioningState = "Succeeded"
	ProvisioningFailed    ProvisioningState = "Failed"
	// ProvisioningTimedOut is Azure's OSProvisioningTimedOut: the guest never
	// reported ready within the provisioning timeout.
	ProvisioningTimedOut ProvisioningState = "OSProvisioningTimedOut"
)

// VMSize is a named shape of vCPUs and memory.
type VMSize struct {
	Name      string `json:"name"`
	VCPUs     int    `json:"vcpus"`
	MemoryMiB int    `json:"memoryMiB"`
}

// VMSizes are the sizes a VM can have.
var VMSizes = []VMSize{
	{"small", 1, 512},
	{"medium", 2, 1024},
	{"large", 2, 2048},
}

// DefaultVMSize is the size of a VM created without one.
const DefaultVMSize = "small"

// SizeByName returns the named size.
func SizeByName(name string) (VMSize, error) {
	for _, s := range VMSizes {
		if s.Name == name {
			return s, nil
		}
	}
	return VMSize{}, Errorf(CodeInvalid, "size %q is not valid: use small (1 vCPU, 512 MiB), medium (2 vCPU, 1 GiB) or large (2 vCPU, 2 GiB)", name)
}

// VM is a virtual machine made from an image.
type VM struct {
	ID                  string            `json:"id"`
	ETag                string            `json:"etag"`
	Name                string            `json:"name"`
	Image               string            `json:"image"` // the exact reference it was created from
	OSType              OSType            `json:"osType"`
	OSState             OSState           `json:"osState"` // of the image it came from
	HyperVGeneration    string            `json:"hyperVGeneration"`
	ProvisioningAgent   ProvisioningAgent `json:"provisioningAgent"` // of the image it came from
	Size                VMSize            `json:"size"`
	ComputerName        string            `json:"computerName,omitempty"`
	AdminUsername       string            `json:"adminUsername,omitempty"`
	Host                string            `json:"host,omitempty"` // the compute host it is placed on
	PowerState          PowerState        `json:"powerState"`
	ProvisioningState   ProvisioningState `json:"provisioningState"`
	ProvisioningMessage string            `json:"provisioningMessage,omitempty"`
	SSHPort             int               `json:"sshPort,omitempty"` // 127.0.0.1 port forwarded to the guest's port 22
	Egress              Egress            `json:"egress"`            // what the guest may reach beyond its host
	Accel               string            `json:"accel,omitempty"`   // kvm or tcg, while running
	Disks               []VMDisk          `json:"disks"`
	Tags                Tags              `json:"tags,omitempty"`
	// StorageSKU is the type of the VM's disks (StorageSKUs); "" for a VM made
	// before disks had one.
	StorageSKU string `json:"storageSku,omitempty"`
	// ResourceGroup is the ARM resource group the VM is in.
	ResourceGroup string    `json:"resourceGroup,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
}

// VMDisk is one disk of a VM: a copy-on-write overlay on a stored disk.
type VMDisk struct {
	LUN         int    `json:"lun"` // -1 for the OS disk
	Source      string `json:"source,omitempty"`
	VirtualSize int64  `json:"virtualSize"`
}

// VMCreate creates a VM.
type VMCreate struct {
	Name          string   `json:"name"`
	Image         string   `json:"image"`
	Size          string   `json:"size,omitempty"`
	ComputerName  string   `json:"computerName,omitempty"`
	AdminUsername string   `json:"adminUsername,omitempty"`
	AdminPassword string   `json:"adminPassword,omitempty"`
	SSHPublicKeys []string `json:"sshPublicKeys,omitempty"`
	CustomData    []byte   `json:"customData,omitempty"` // to the guest's provisioning agent (ovf-env.xml, NoCloud user-data)
	// UserData is served by IMDS for the guest's own software, as on Azure; no
	// provisioning agent runs it.
	UserData       []byte   `json:"userData,omitempty"`
	AttachDisks    []string `json:"attachDataDisks,omitempty"` // the tenant's own disks, after the image's data disks
	ProvisionAfter string   `json:"provisioningTimeout,omitempty"`
	// Egress is what the guest may reach outside its host (default internet).
	Egress Egress `json:"egress,omitempty"`
	// Location is the region to run in (default: the primary region); the image
	// version must be replicated there.
	Location string `json:"location,omitempty"`
	// StorageSKU is the type of the VM's disks (StorageSKUs); default: the first
	// the image allows.
	StorageSKU string `json:"storageSku,omitempty"`
	// ResourceGroup records the VM in an ARM resource group (default
	// DefaultResourceGroup), as a VM made through ARM is.
	ResourceGroup string `json:"resourceGroup,omitempty"`
}

// Egress is what a VM's guest may reach outside its host. Whatever it is, the guest
// never reaches the host itself, link-local or metadata addresses that Hangar does
// not serve, nor the networks the host's administrator denies (docs/SECURITY.md).
type Egress string

// Egress settings.
const (
	// EgressInternet lets the guest open connections to any address not denied.
	EgressInternet Egress = "internet"
	// EgressNone lets the guest reach only what Hangar serves it: DHCP and the
	// platform endpoints; no DNS, no connection out.
	EgressNone Egress = "none"
)

// ParseEgress checks an egress setting; "" is the default, internet.
func ParseEgress(s string) (Egress, error) {
	switch Egress(s) {
	case "", EgressInternet:
		return EgressInternet, nil
	case EgressNone:
		return EgressNone, nil
	}
	return "", Errorf(CodeInvalid, "egress %q is not valid: use internet (the default) or none", s)
}

// SerialLog is the tail of a VM's serial console.
type SerialLog struct {
	Log string `json:"log"`
}

// RunCommand runs a script in a VM's guest, as root, through the guest agent.
type RunCommand struct {
	Script  string `json:"script"`
	Timeout string `json:"timeout,omitempty"`
}

// MaxRunOutput bounds each output of a run-command: of a longer one, only the last
// MaxRunOutput bytes are kept (as Azure's Run Command keeps the tail).
const MaxRunOutput = 1 << 20

// RunCommandResult is what the script did.
type RunCommandResult struct {
	ExitCode int `json:"exitCode"`
	// Stdout and Stderr are the script's outputs as text. An output that is not
	// valid UTF-8 has U+FFFD for each invalid byte here, and is given exactly in
	// StdoutBase64 or StderrBase64.
	Stdout       string `json:"stdout"`
	Stderr       string `json:"stderr"`
	StdoutBase64 []byte `json:"stdoutBase64,omitempty"`
	StderrBase64 []byte `json:"stderrBase64,omitempty"`
	// StdoutTruncated and StderrTruncated say that the output was longer than
	// MaxRunOutput: what is here is its end.
	StdoutTruncated bool `json:"stdoutTruncated,omitempty"`
	StderrTruncated bool `json:"stderrTruncated,omitempty"`
}

// StdoutBytes is the script's standard output exactly.
func (r RunCommandResult) StdoutBytes() []byte { return exact(r.Stdout, r.StdoutBase64) }

// StderrBytes is the script's standard error exactly.
func (r RunCommandResult) StderrBytes() []byte { return exact(r.Stderr, r.StderrBase64) }

func exact(text string, raw []byte) []byte {
	if raw != nil {
		return raw
	}
	return []byte(text)
}

// VMBackup names a backup.
type VMBackup struct {
	Name string `json:"name,omitempty"`
	// Overwrite replaces an existing backup of the same name (in one transaction);
	// without it, an existing name is refused.
	Overwrite bool `json:"overwrite,omitempty"`
}

// VMBackupResult names the disks a backup made and how to restore them.
type VMBackupResult struct {
	Name      string         `json:"name"`
	OSDisk    string         `json:"osDisk"`
	DataDisks []DataDiskSpec `json:"dataDisks,omitempty"`
	Restore   string         `json:"restore"`
}

// VMGeneralize confirms an irreversible generalization.
type VMGeneralize struct {
	// NoBackup skips the backup otherwise taken when none holds the VM's latest state.
	NoBackup bool `json:"noBackup,omitempty"`
}

// VMCapture makes an image of a VM.
type VMCapture struct {
	ImageName string    `json:"imageName"`
	Version   string    `json:"version,omitempty"`
	OSState   OSState   `json:"osState,omitempty"` // default: generalized if the VM is, else specialized
	Type      ImageType `json:"type,omitempty"`    // default vm
	KeepVM    bool      `json:"keepVm,omitempty"`
	// Properties are the new version's.
	Properties Properties `json:"properties,omitempty"`
	// ResourceGroup records a new image in an ARM resource group (see ImageCreate).
	ResourceGroup string `json:"resourceGroup,omitempty"`
}

// DiskGeneralize generalizes a stored Linux disk offline into a new disk.
type DiskGeneralize struct {
	Name       string `json:"name,omitempty"` // the new disk (default: DISK-generalized)
	RemoveUser bool   `json:"removeUser,omitempty"`
	DryRun     bool   `json:"dryRun,omitempty"`
}

// DiskGeneralized is what an offline generalization did.
type DiskGeneralized struct {
	Disk    *Disk    `json:"disk,omitempty"` // nil for a dry run
	Changes []string `json:"changes"`
	Notes   []string `json:"notes,omitempty"`
}
