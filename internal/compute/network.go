package compute

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hangarvm/hangar/internal/netstack"
	"github.com/hangarvm/hangar/internal/store"
)

// netSocket is the unix socket of a VM's NIC: QEMU listens on it (-netdev
// stream,server=on) and this process connects, again after every restart.
const netSocket = "net.sock"

// listenSSH opens the VM's SSH port on the host's loopback: port, or any free port
// when port is 0 or taken (a VM re-adopted after its port went to someone else).
func listenSSH(port int) (net.Listener, error) {
	if port != 0 {
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

func portOf(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// startNetwork runs a VM's network for as long as its QEMU runs: the netstack, the
// SSH forward from ssh (which it then owns) to the guest's port 22, and the
// connection to QEMU's NIC socket, made again whenever it drops. QEMU must have
// made its socket (its monitor answers).
func (m *Manager) startNetwork(vm *store.VM, mc *machine, ssh net.Listener) error {
	n, err := netstack.New(netstack.Config{Egress: vm.Egress, Policy: m.policy, Log: m.log.With("vm", vm.Name)})
	if err != nil {
		ssh.Close()
		return fmt.Errorf("the VM's network: %w", err)
	}
	n.ForwardHost(ssh, 22)
	if err := m.servePlatform(vm, n, mc.report); err != nil {
		n.Close()
		return err
	}
	m.mu.Lock()
	if old := m.networks[vm.ID]; old != nil {
		old.Close()
	}
	m.networks[vm.ID] = n
	m.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-mc.exited
		cancel()
		m.mu.Lock()
		if m.networks[vm.ID] == n {
			delete(m.networks, vm.ID)
		}
		m.mu.Unlock()
		n.Close()
	}()
	go m.carryNetwork(ctx, vm, n)
	return nil
}

// carryNetwork connects to QEMU's NIC socket and carries its frames, and connects
// again if the connection drops while QEMU runs.
func (m *Manager) carryNetwork(ctx context.Context, vm *store.VM, n *netstack.Network) {
	path := m.socketPath(vm.ID, netSocket)
	for ctx.Err() == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			err = n.Serve(ctx, conn)
			if ctx.Err() == nil {
				m.log.Warn("the VM's network connection ended; connecting again", "vm", vm.Name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// closeNetworks ends every VM network of this process, leaving the VMs running:
// the next hangar serve connects to them again.
func (m *Manager) closeNetworks() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, n := range m.networks {
		n.Close()
		delete(m.networks, id)
	}
}
