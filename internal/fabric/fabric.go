package fabric

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// AssetTag is the SMBIOS chassis asset tag of every Azure VM (QEMU: -smbios
// type=3,asset=...). cloud-init's Azure datasource runs only where it finds it
// (cloudinit/sources/helpers/azure.py: ChassisAssetTag.AZURE_CLOUD).
const AssetTag = "7783-7084-3265-9085-8269-3286-77"

// The addresses at which guests find the platform, the same on every VM.
var (
	// WireServerAddr is the WireServer's address (port 80) and the HostGAPlugin's
	// (port HostGAPluginPort): KNOWN_WIRESERVER_IP in WALinuxAgent's
	// common/utils/restutil.py, DEFAULT_WIRESERVER_ENDPOINT in cloud-init's
	// sources/helpers/azure.py.
	WireServerAddr = netip.MustParseAddr("168.63.129.16")
	// IMDSAddr is the Instance Metadata Service's address (port 80).
	IMDSAddr = netip.MustParseAddr("169.254.169.254")
)

// HostGAPluginPort is the HostGAPlugin's port on WireServerAddr
// (HOST_PLUGIN_PORT in WALinuxAgent's common/protocol/hostplugin.py).
const HostGAPluginPort = 32526

// Instance is the facts of one VM that its guest may see. The Server serves them
// as they are when New is called; a VM whose facts change gets a new Server with
// a higher Incarnation.
type Instance struct {
	// Name is the VM's name (IMDS compute.name).
	Name string
	// ComputerName is the guest's host name (IMDS compute.osProfile.computerName);
	// Name when empty, unless Specialized. It must match ovf-env.xml's HostName:
	// cloud-init prefers IMDS's.
	ComputerName string
	// Specialized: the VM comes from a specialized image and has no OS profile, as
	// on Azure: IMDS's computerName, adminUsername and publicKeys stay empty, so
	// cloud-init, which sees a new instance, keeps the guest's host name and users.
	Specialized bool
	// VMID is the VM's unique id (IMDS compute.vmId), also its SMBIOS system UUID:
	// cloud-init and waagent take the UUID as the instance id.
	VMID           string
	Location       string
	VMSize         string
	ResourceGroup  string
	SubscriptionID string
	// ContainerID and InstanceID are the goal state's ids, echoed back in every
	// health report. VMID when empty.
	ContainerID string
	InstanceID  string
	// Incarnation numbers the goal state; 1 when zero.
	Incarnation int
	// AdminUsername must match ovf-env.xml's UserName: cloud-init prefers IMDS's.
	AdminUsername                 string
	DisablePasswordAuthentication bool
	// PublicKeys are the admin user's SSH keys. cloud-init 22.4 takes them from
	// IMDS only (the keys of ovf-env.xml reach it only through the goal state's
	// Certificates, which Hangar does not serve).
	PublicKeys []PublicKey
	// UserData is the user data, base64-encoded as Azure serves it.
	UserData string
	Network  Network
	// OSType is "Linux" (the default) or "Windows".
	OSType string
}

// PublicKey is one SSH public key of the admin user.
type PublicKey struct {
	Path    string // where it goes in the guest, e.g. /home/azureuser/.ssh/authorized_keys
	KeyData string // an authorized_keys line, "ssh-ed25519 AAAA..."
}

// Network is the guest's primary NIC as IMDS describes it. cloud-init writes its
// network configuration from it (matching the NIC by MAC and renaming it eth0), so
// MAC must be the guest NIC's.
type Network struct {
	MAC         net.HardwareAddr
	PrivateIPv4 netip.Prefix // the guest's address and the subnet's length, 10.0.0.4/24
	Gateway     netip.Addr   // for DHCPOption121
	PublicIPv4  netip.Addr   // zero when the VM has none
}

// Health is one health report of the guest's agent (POST /machine?comp=health).
type Health struct {
	// State is HealthReady or HealthNotReady.
	State string
	// SubStatus and Description are set with NotReady: "Provisioning"/"Starting"
	// while waagent provisions, "ProvisioningFailed" with the agent's reason when
	// provisioning failed. Description is the guest's own words, cleaned of
	// control characters and at most MaxDescription bytes long.
	SubStatus, Description string
}

// The health states and the failure substatus of WALinuxAgent and cloud-init.
const (
	HealthReady                 = "Ready"
	HealthNotReady              = "NotReady"
	SubStatusProvisioningFailed = "ProvisioningFailed"
)

// Server serves one VM's platform endpoints. Its handlers are safe for concurrent
// use and answer every request from documents rendered once by New.
type Server struct {
	inst     Instance
	log      *slog.Logger
	onHealth func(Health)

	versions, goalState, hostingEnv, sharedConfig, extensionsConfig []byte
	configPath                                                      string // /machine/{container}/{instance}
	imds                                                            any    // the IMDS tree: map[string]any, []any, string
}

// New builds the Server of inst. onHealth, when not nil, is called with every
// valid health report, synchronously from the request's goroutine: it must not
// block for long. Reports come in the agents' order, which is not monotonic: on a
// guest with cloud-init and waagent (Provisioning.Agent=auto) cloud-init reports
// Ready, then waagent NotReady/"Provisioning" and Ready again; only NotReady with
// SubStatusProvisioningFailed is a failure (docs/azure-platform.md). log may be nil.
func New(inst Instance, log *slog.Logger, onHealth func(Health)) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	inst = withDefaults(inst)
	s := &Server{inst: inst, log: log, onHealth: onHealth}
	s.renderWire()
	s.imds = imdsTree(inst)
	return s
}

func withDefaults(inst Instance) Instance {
	switch {
	case inst.Specialized: // no OS profile at all
		inst.ComputerName, inst.AdminUsername, inst.PublicKeys = "", "", nil
	case inst.ComputerName == "":
		inst.ComputerName = inst.Name
	}
	if inst.ContainerID == "" {
		inst.ContainerID = inst.VMID
	}
	if inst.InstanceID == "" {
		inst.InstanceID = inst.VMID
	}
	if inst.Incarnation <= 0 {
		inst.Incarnation = 1
	}
	if inst.OSType == "" {
		inst.OSType = "Linux"
	}
	return inst
}

// DHCPOption245 is the DHCP option that names the WireServer: waagent 2.7 finds the
// WireServer only through it, or a lease file or a route that carries it
// (common/dhcp.py: DhcpHandler.run, parse_dhcp_resp; common/protocol/util.py:
// _detect_protocol); cloud-init reads it from its lease and falls back to
// 168.63.129.16 (sources/helpers/azure.py, DataSourceAzure._setup_ephemeral_networking).
func DHCPOption245() (code uint8, value []byte) {
	a := WireServerAddr.As4()
	return 245, a[:]
}

// DHCPOption121 is the classless static routes option (RFC 3442) of Azure's DHCP:
// host routes to the WireServer and IMDS through gateway, and the default route
// (a client that gets option 121 ignores option 3, the router). waagent takes a
// route to 168.63.129.16 as the WireServer's endpoint without asking DHCP again
// (common/dhcp.py: DhcpHandler.wireserver_route_exists).
func DHCPOption121(gateway netip.Addr) (code uint8, value []byte) {
	gw := gateway.As4()
	var v []byte
	for _, dst := range []netip.Addr{WireServerAddr, IMDSAddr} {
		d := dst.As4()
		v = append(v, 32)
		v = append(v, d[:]...)
		v = append(v, gw[:]...)
	}
	v = append(v, 0) // 0.0.0.0/0: no destination octets
	v = append(v, gw[:]...)
	return 121, v
}

// azureMAC is a MAC address as IMDS writes it: upper case hex, no separators.
func azureMAC(mac net.HardwareAddr) string {
	return strings.ToUpper(strings.ReplaceAll(mac.String(), ":", ""))
}

// Handlers returns the three handlers with the addresses they serve at.
func (s *Server) Handlers() map[netip.AddrPort]http.Handler {
	return map[netip.AddrPort]http.Handler{
		netip.AddrPortFrom(WireServerAddr, 80):               s.WireServer(),
		netip.AddrPortFrom(WireServerAddr, HostGAPluginPort): s.HostGAPlugin(),
		netip.AddrPortFrom(IMDSAddr, 80):                     s.IMDS(),
	}
}
