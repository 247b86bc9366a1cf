package compute

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/fabric"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/netstack"
	"github.com/hangarvm/hangar/internal/store"
)

// platformFile holds what a VM's guest may learn from Azure's platform endpoints
// besides what the database says (internal/fabric): written when the VM is made,
// read at every start, also after a restart of hangar serve. It holds no password
// (the provisioning disc does, and is deleted once the guest is ready).
const platformFile = "platform.json"

// platformFacts is the content of platformFile.
type platformFacts struct {
	AdminUsername                 string   `json:"adminUsername,omitempty"`
	DisablePasswordAuthentication bool     `json:"disablePasswordAuthentication"`
	SSHPublicKeys                 []string `json:"sshPublicKeys,omitempty"`
	UserData                      []byte   `json:"userData,omitempty"`
}

func writePlatformFacts(dir string, f platformFacts) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, platformFile), data, 0o600)
}

// readPlatformFacts reads a VM's facts; a VM made before they were kept has none.
func readPlatformFacts(dir string) (platformFacts, error) {
	var f platformFacts
	data, err := os.ReadFile(filepath.Join(dir, platformFile))
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	return f, json.Unmarshal(data, &f)
}

// platformInstance is what the platform endpoints tell a VM's guest about itself.
func (m *Manager) platformInstance(vm *store.VM, f platformFacts) fabric.Instance {
	mac, _ := net.ParseMAC(netstack.GuestMAC)
	inst := fabric.Instance{
		Name: vm.Name, ComputerName: vm.ComputerName, Specialized: vm.OSState == hangar.Specialized, VMID: hangar.AsUUID(vm.ID),
		Location: cmp.Or(m.cfg.Host.Region, "local"), VMSize: vm.Size.Name, ResourceGroup: "hangar",
		SubscriptionID: hangar.AsUUID(vm.TenantID), AdminUsername: f.AdminUsername,
		DisablePasswordAuthentication: f.DisablePasswordAuthentication,
		Network:                       fabric.Network{MAC: mac, PrivateIPv4: netip.PrefixFrom(netstack.GuestIP, netstack.Subnet.Bits()), Gateway: netstack.Gateway},
		OSType:                        "Linux",
	}
	if vm.OSType == hangar.OSWindows {
		inst.OSType = "Windows"
	}
	for _, k := range f.SSHPublicKeys {
		inst.PublicKeys = append(inst.PublicKeys, fabric.PublicKey{
			Path: path.Join("/home", f.AdminUsername, ".ssh/authorized_keys"), KeyData: strings.TrimSpace(k)})
	}
	if len(f.UserData) > 0 {
		inst.UserData = base64.StdEncoding.EncodeToString(f.UserData)
	}
	return inst
}

// servePlatform serves Azure's WireServer, HostGAPlugin and IMDS on the VM's own
// network, with the DHCP options that point the guest's agents at them. The
// guest's health reports become the VM's reports (healthMessage).
func (m *Manager) servePlatform(vm *store.VM, n *netstack.Network, report func(agentMessage)) error {
	facts, err := readPlatformFacts(m.vmDir(vm.ID))
	if err != nil {
		return fmt.Errorf("the VM's platform facts: %w", err)
	}
	inst := m.platformInstance(vm, facts)
	// A VM made through the ARM API sees the resource group it was made in.
	if r, err := m.db.ARMResourceFor(context.Background(), vm.TenantID, store.ARMStandsForVM, vm.Name); err == nil {
		inst.ResourceGroup = r.Group
	}
	srv := fabric.New(inst, m.log.With("vm", vm.Name), func(h fabric.Health) { report(healthMessage(h)) })
	for addr, h := range srv.Handlers() {
		if err := n.HandleHTTP(addr, h); err != nil {
			return fmt.Errorf("serving the platform at %s: %w", addr, err)
		}
	}
	n.SetDHCPOption(fabric.DHCPOption245())
	n.SetDHCPOption(fabric.DHCPOption121(netstack.Gateway))
	return nil
}

// healthMessage turns an Azure health report into the report of a guest agent.
// Reports are not monotonic (cloud-init reports Ready, then waagent NotReady while
// it starts, then Ready): only NotReady with ProvisioningFailed is a failure.
func healthMessage(h fabric.Health) agentMessage {
	msg := agentMessage{from: agentFromAzure}
	switch {
	case h.State == fabric.HealthReady:
		msg.Type = "ready"
	case h.SubStatus == fabric.SubStatusProvisioningFailed:
		msg.Type, msg.Reason = "failure", cmp.Or(h.Description, "the agent gave no reason")
	default:
		msg.Type, msg.Reason = "waiting", strings.TrimSpace(h.SubStatus+" "+h.Description)
	}
	return msg
}
