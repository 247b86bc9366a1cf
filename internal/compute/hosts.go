package compute

import (
	"context"
	"sort"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// HostConfig describes this node as a compute host. A node with no Name runs no VMs
// (role api): it places new VMs on other hosts and forwards the calls for them.
type HostConfig struct {
	Name      string
	NodeID    string // stable per data dir: a restarted node keeps its name
	URL       string // where other nodes reach this node's API
	Region    string
	VCPUs     int64
	MemoryMiB int64
	// Heartbeat is how often the host reports; a host silent for DownAfter is down
	// and its running VMs' state becomes unknown.
	Heartbeat, DownAfter time.Duration
}

// RunsVMs reports whether this node is a compute host.
func (m *Manager) RunsVMs() bool { return m.cfg.Host.Name != "" }

// Register records this host before it serves: a name held by another live node is
// refused, and VMs from before hosts existed are claimed.
func (m *Manager) Register(ctx context.Context) error {
	if !m.RunsVMs() {
		return nil
	}
	if err := m.heartbeat(ctx); err != nil {
		return err
	}
	return m.db.ClaimUnplacedVMs(ctx, m.cfg.Host.Name)
}

func (m *Manager) heartbeat(ctx context.Context) error {
	h := m.cfg.Host
	return m.db.Heartbeat(ctx, store.Host{Name: h.Name, NodeID: h.NodeID, URL: h.URL, Region: h.Region,
		VCPUs: h.VCPUs, MemoryMiB: h.MemoryMiB}, h.DownAfter)
}

// Watch runs until ctx ends. A compute host heartbeats; every node marks the VMs of
// silent hosts unknown. A host that heartbeats again sets its own unknown VMs back
// to what they are: running if it still supervises their QEMU, else stopped.
func (m *Manager) Watch(ctx context.Context) {
	t := time.NewTicker(m.cfg.Host.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if m.RunsVMs() {
			if err := m.heartbeat(ctx); err != nil {
				m.log.Warn("heartbeat failed", "err", err)
				continue
			}
			m.reclaimUnknown(ctx)
		}
		if n, err := m.db.MarkUnknown(ctx, time.Now().Add(-m.cfg.Host.DownAfter)); err != nil {
			m.log.Warn("checking hosts' heartbeats failed", "err", err)
		} else if n > 0 {
			m.log.Warn("compute host stopped heartbeating: its VMs' state is unknown", "vms", n)
		}
	}
}

func (m *Manager) reclaimUnknown(ctx context.Context) {
	vms, err := m.db.VMsOnHost(ctx, m.cfg.Host.Name, hangar.PowerUnknown)
	if err != nil {
		return
	}
	for _, v := range vms {
		state := hangar.PowerStopped
		if m.machine(v.ID) != nil {
			state = hangar.PowerRunning
		}
		m.db.UpdateVM(ctx, v.ID, store.VMUpdate{PowerState: &state})
		m.log.Info("vm state known again", "vm", v.Name, "state", state)
	}
}

// Hosts lists the compute hosts, for administrators.
func (m *Manager) Hosts(ctx context.Context, actor *hangar.Tenant) ([]hangar.ComputeHost, error) {
	if actor.Role != hangar.RoleAdmin {
		return nil, hangar.Errorf(hangar.CodeForbidden, "only administrators may list compute hosts")
	}
	hosts, err := m.db.Hosts(ctx)
	out := make([]hangar.ComputeHost, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, m.hostView(h))
	}
	return out, err
}

func (m *Manager) hostView(h store.Host) hangar.ComputeHost {
	state := hangar.HostUp
	if !m.alive(h) {
		state = hangar.HostDown
	}
	return hangar.ComputeHost{Name: h.Name, Region: h.Region, URL: h.URL, State: state, VCPUs: h.VCPUs, UsedVCPUs: h.UsedVCPUs,
		MemoryMiB: h.MemoryMiB, UsedMemoryMiB: h.UsedMemoryMiB, VMs: h.VMs, LastHeartbeat: h.Heartbeat}
}

func (m *Manager) alive(h store.Host) bool { return time.Since(h.Heartbeat) < m.cfg.Host.DownAfter }

// Place chooses the host for a new VM of the request's size: among live hosts with
// the vCPUs and memory free, the one with the most memory free. It returns "" when
// that is this node, else the chosen host's URL for the request to be forwarded to.
func (m *Manager) Place(ctx context.Context, req hangar.VMCreate) (string, error) {
	if req.Size == "" {
		req.Size = hangar.DefaultVMSize
	}
	size, err := hangar.SizeByName(req.Size)
	if err != nil {
		return "", err
	}
	hosts, err := m.db.Hosts(ctx)
	if err != nil {
		return "", err
	}
	region := req.Location
	if region == "" {
		region = m.cat.PrimaryRegion()
	}
	var fits []store.Host
	for _, h := range hosts {
		if h.Region == region && m.alive(h) && h.VCPUs-h.UsedVCPUs >= int64(size.VCPUs) && h.MemoryMiB-h.UsedMemoryMiB >= int64(size.MemoryMiB) {
			fits = append(fits, h)
		}
	}
	if len(fits) == 0 {
		if len(hosts) == 0 {
			if err := m.available(); err != nil {
				return "", err
			}
		}
		return "", hangar.Errorf(hangar.CodeUnavailable, "no compute host in region %s has %d vCPUs and %d MiB free (%d hosts registered in all): deallocate or delete VMs, choose a smaller size, or add a host (hangar serve --role compute --region %s)",
			region, size.VCPUs, size.MemoryMiB, len(hosts), region)
	}
	sort.SliceStable(fits, func(i, j int) bool {
		return fits[i].MemoryMiB-fits[i].UsedMemoryMiB > fits[j].MemoryMiB-fits[j].UsedMemoryMiB
	})
	if fits[0].Name == m.cfg.Host.Name {
		return "", nil
	}
	return fits[0].URL, nil
}

// Route says where the calls for the actor's VM are served: "" when here, else the
// URL of its host. Calls for a VM whose host is down are refused here rather than
// forwarded into a timeout: its state is unknown until the host returns.
func (m *Manager) Route(ctx context.Context, actor *hangar.Tenant, name string) (string, error) {
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil || v.Host == m.cfg.Host.Name {
		return "", err
	}
	h, err := m.db.Host(ctx, v.Host)
	if err != nil {
		return "", err
	}
	if !m.alive(h) {
		return "", hangar.Errorf(hangar.CodeUnavailable, "VM %q is on compute host %s, which has not reported for %s: its state is unknown until the host returns; it will not be started anywhere else",
			name, h.Name, time.Since(h.Heartbeat).Round(time.Second))
	}
	return h.URL, nil
}

// NodeID names this node (its data dir) in messages between nodes.
func (m *Manager) NodeID() string { return m.cfg.Host.NodeID }
