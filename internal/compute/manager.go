package compute

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/appliance"
	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/netstack"
	"github.com/hangarvm/hangar/internal/store"
)

// Config holds the host's compute settings.
type Config struct {
	Dir                 string // DATA_DIR/compute: bases/ and vms/
	QEMU                string // qemu-system-x86_64
	QEMUImg             string
	OVMF                string // UEFI firmware image for Hyper-V generation V2
	Accel               string // auto, kvm or tcg
	ProvisioningTimeout time.Duration
	StopTimeout         time.Duration // how long a guest may take to power off before QEMU quits
	Sandbox             bool
	// ApplianceDir holds the appliance (images/appliance) that does offline work
	// on guest disks; QEMUUser is the unprivileged user it runs as ("" for none).
	ApplianceDir, QEMUUser string
	Host                   HostConfig
	// SerialLogMax is the size at which a VM's serial log is rotated (see
	// rotateSerial); 0 is DefaultSerialLogMax.
	SerialLogMax int64
	// EgressDeny are the networks no guest reaches, on top of those no guest ever
	// reaches (the host's own addresses, loopback, link-local, metadata services).
	EgressDeny []netip.Prefix
}

// Manager creates, runs and supervises the VMs of this host.
type Manager struct {
	cfg   Config
	db    *store.DB
	cat   *catalog.Service
	bases *bases
	log   *slog.Logger
	accel string

	policy           *netstack.Policy // what guests may reach
	qemuUID, qemuGID int              // of cfg.QEMUUser, when set

	mu       sync.Mutex
	machines map[string]*machine          // running VMs by ID
	networks map[string]*netstack.Network // their networks, by VM ID
}

// New returns a manager. It probes KVM when cfg.Accel is auto. VM disks are read
// from cs, the chunk store of the host's region; chunks the host makes (captures,
// backups) go to the primary store through cat.
func New(ctx context.Context, cfg Config, db *store.DB, cat *catalog.Service, cs *chunks.Store, log *slog.Logger) (*Manager, error) {
	if cfg.ProvisioningTimeout <= 0 {
		cfg.ProvisioningTimeout = 5 * time.Minute
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.SerialLogMax <= 0 {
		cfg.SerialLogMax = DefaultSerialLogMax
	}
	if cfg.Host.Heartbeat <= 0 {
		cfg.Host.Heartbeat = 2 * time.Second
	}
	if cfg.Host.DownAfter <= 0 {
		cfg.Host.DownAfter = 15 * time.Second
	}
	m := &Manager{cfg: cfg, db: db, cat: cat, log: log, machines: map[string]*machine{}, networks: map[string]*netstack.Network{},
		policy: netstack.NewPolicy(cfg.EgressDeny),
		bases:  &bases{dir: filepath.Join(cfg.Dir, "bases"), chunks: cs}}
	switch cfg.Accel {
	case "kvm", "tcg":
		m.accel = cfg.Accel
	case "auto", "":
		m.accel = "tcg"
		if cfg.QEMU != "" && ProbeKVM(ctx, cfg.QEMU, 10*time.Second) {
			m.accel = "kvm"
		}
	default:
		return nil, fmt.Errorf("--accel %q: use auto, kvm or tcg", cfg.Accel)
	}
	if err := atomicfile.MkdirAll(filepath.Join(cfg.Dir, "vms"), 0o700); err != nil {
		return nil, err
	}
	if err := m.lookupQEMUUser(); err != nil {
		return nil, err
	}
	log.Info("compute ready", "accel", m.accel, "qemu", cfg.QEMU)
	return m, nil
}

func (m *Manager) vmDir(id string) string { return filepath.Join(m.cfg.Dir, "vms", id) }

func (m *Manager) available() error {
	if m.cfg.QEMU == "" || m.cfg.QEMUImg == "" {
		return hangar.Errorf(hangar.CodeUnavailable, "this host cannot run VMs: QEMU is not installed (on Debian: apt-get install qemu-system-x86 qemu-utils ovmf)")
	}
	return nil
}

// canStart says why this node cannot start a VM, if it cannot. A node that runs no
// VMs (role api) refuses even a call forwarded to it by another node: its VMs would
// escape placement, the capacity check and every compute host's heartbeat.
func (m *Manager) canStart() error {
	if err := m.available(); err != nil {
		return err
	}
	if !m.RunsVMs() {
		return hangar.Errorf(hangar.CodeUnavailable, "this node runs no VMs (hangar serve --role api): VMs run on the compute hosts (hangar serve --role compute)")
	}
	return nil
}

// Create checks a VM request against the image and the rules of its kind, records
// the VM and starts it in the background: the answer comes back in state creating.
func (m *Manager) Create(ctx context.Context, actor *hangar.Tenant, req hangar.VMCreate) (hangar.VM, error) {
	if err := m.canStart(); err != nil {
		return hangar.VM{}, err
	}
	vm, files, err := m.plan(ctx, actor, req)
	if err != nil {
		return hangar.VM{}, err
	}
	vm.Host = m.cfg.Host.Name
	if err := m.db.CreateVM(ctx, vm); err != nil {
		return hangar.VM{}, err
	}
	m.log.Info("vm created", "tenant", actor.Name, "vm", vm.Name, "image", vm.Image, "osState", vm.OSState)
	go m.firstBoot(*vm, files)
	return vm.VM, nil
}

// bootFiles are the files a new VM's directory holds besides its disks: the
// provisioning disc (none for a specialized image) and the platform facts.
type bootFiles struct {
	medium []byte
	facts  platformFacts
}

// firstBoot materializes the disks, writes the boot files and boots the VM. A
// failure leaves the VM failed with a message saying why.
func (m *Manager) firstBoot(vm store.VM, files *bootFiles) {
	ctx := context.Background()
	if err := m.prepare(ctx, &vm, files); err != nil {
		m.fail(ctx, vm.ID, "preparing the VM's disks failed: "+err.Error())
		return
	}
	if err := m.start(ctx, &vm); err != nil {
		m.fail(ctx, vm.ID, "starting QEMU failed: "+err.Error())
	}
}

func (m *Manager) fail(ctx context.Context, id, msg string) {
	m.log.Error("vm failed", "vm", id, "reason", msg)
	failed, state := hangar.PowerFailed, hangar.ProvisioningFailed
	m.db.UpdateVM(ctx, id, store.VMUpdate{PowerState: &failed, ProvisioningState: &state, ProvisioningMessage: &msg})
}

// prepare makes the VM's directory: an overlay per disk on its base, and the boot
// files.
// The directory is synced at the end: the overlays will hold what the guest writes,
// and a crash must not lose their names.
func (m *Manager) prepare(ctx context.Context, vm *store.VM, files *bootFiles) error {
	dir := m.vmDir(vm.ID)
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i, dk := range vm.Disks {
		manifest, err := m.db.Manifest(ctx, vm.DiskIDs[i])
		if err != nil {
			return err
		}
		base, err := m.bases.ensure(ctx, vm.DiskIDs[i], manifest)
		if err != nil {
			return err
		}
		if err := createOverlay(ctx, m.cfg.QEMUImg, base, filepath.Join(dir, diskID(dk.LUN)+".qcow2")); err != nil {
			return err
		}
	}
	if files.medium != nil {
		if err := atomicfile.WriteFile(filepath.Join(dir, "cidata.iso"), files.medium, 0o600); err != nil {
			return err
		}
	}
	if err := writePlatformFacts(dir, files.facts); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

func diskID(lun int) string {
	if lun < 0 {
		return "os"
	}
	return fmt.Sprintf("lun%d", lun)
}

func newInstanceID() string {
	var b [16]byte
	rand.Read(b[:])
	return "hangar-" + hex.EncodeToString(b[:])
}

// appliance is how this host runs the appliance.
func (m *Manager) appliance() appliance.Config {
	return appliance.Config{QEMU: m.cfg.QEMU, QEMUImg: m.cfg.QEMUImg, Dir: m.cfg.ApplianceDir, Accel: m.accel, RunAs: m.cfg.QEMUUser}
}
