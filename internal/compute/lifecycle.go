package compute

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/qmp"
	"github.com/hangarvm/hangar/internal/store"
)

// checkVM answers an action that has nothing to do: it still fails if pre does not
// hold, as the caller's view of the VM is stale either way.
func checkVM(pre hangar.Precondition, v *store.VM) error {
	return pre.Check(fmt.Sprintf("VM %q", v.Name), v.ETag)
}

// view is what a tenant sees of a VM.
func view(v store.VM) hangar.VM {
	out := v.VM
	if out.PowerState != hangar.PowerRunning {
		out.SSHPort, out.Accel = 0, ""
	}
	return out
}

// Get shows one of the actor's VMs.
func (m *Manager) Get(ctx context.Context, actor *hangar.Tenant, name string) (hangar.VM, error) {
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil {
		return view(v), err
	}
	v.ResourceGroup, err = m.db.ResourceGroup(ctx, actor.ID, store.ARMStandsForVM, v.Name)
	return view(v), err
}

// SetTags replaces the tags of one of the actor's VMs. The tags are metadata: any
// node sets them, whatever host runs the VM.
func (m *Manager) SetTags(ctx context.Context, actor *hangar.Tenant, name string, tags hangar.Tags, pre hangar.Precondition) (hangar.VM, error) {
	if err := hangar.ValidateTags(tags); err != nil {
		return hangar.VM{}, err
	}
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil {
		return hangar.VM{}, err
	}
	if err := m.db.SetVMTags(ctx, &v, tags, pre); err != nil {
		return hangar.VM{}, err
	}
	return m.Get(ctx, actor, name)
}

// List lists the actor's VMs.
func (m *Manager) List(ctx context.Context, actor *hangar.Tenant) ([]hangar.VM, error) {
	vms, err := m.db.ListVMs(ctx, actor.ID)
	if err != nil {
		return nil, err
	}
	groups, err := m.db.ResourceGroups(ctx, actor.ID, store.ARMStandsForVM)
	out := make([]hangar.VM, 0, len(vms))
	for _, v := range vms {
		v.ResourceGroup = cmp.Or(groups[v.Name], hangar.DefaultResourceGroup)
		out = append(out, view(v))
	}
	return out, err
}

func (m *Manager) machine(id string) *machine {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.machines[id]
}

// Start boots a stopped or deallocated VM. A generalized VM can never start again.
// With a precondition, the VM is claimed (its revision moved under pre) before QEMU
// starts, so of two starts holding the same ETag only one boots it.
func (m *Manager) Start(ctx context.Context, actor *hangar.Tenant, name string, pre hangar.Precondition) (hangar.VM, error) {
	if err := m.canStart(); err != nil {
		return hangar.VM{}, err
	}
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil {
		return hangar.VM{}, err
	}
	switch v.PowerState {
	case hangar.PowerRunning, hangar.PowerCreating:
		if err := checkVM(pre, &v); err != nil {
			return hangar.VM{}, err
		}
		return view(v), nil
	case hangar.PowerGeneralized:
		return hangar.VM{}, hangar.Errorf(hangar.CodeConflict, "VM %q is generalized and can never start again; capture it as an image and create new VMs from that", name)
	case hangar.PowerStopped, hangar.PowerDeallocated, hangar.PowerFailed:
	default:
		return hangar.VM{}, hangar.Errorf(hangar.CodeConflict, "VM %q is %s; wait until it is stopped", name, v.PowerState)
	}
	if !pre.IsZero() {
		if err := m.db.UpdateVM(ctx, v.ID, store.VMUpdate{IfMatch: pre}); err != nil {
			return hangar.VM{}, err
		}
	}
	if err := m.start(ctx, &v); err != nil {
		m.fail(ctx, v.ID, "starting QEMU failed: "+err.Error())
		return hangar.VM{}, err
	}
	return m.Get(ctx, actor, name)
}

// Stop powers a VM off: the ACPI power button first, then, after the stop timeout,
// QEMU quits (flushing its disks). deallocate also gives up the VM's host resources
// (its SSH port); disks are kept either way. pre applies to the move to stopping.
func (m *Manager) Stop(ctx context.Context, actor *hangar.Tenant, name string, deallocate bool, pre hangar.Precondition) (hangar.VM, error) {
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil {
		return hangar.VM{}, err
	}
	if v.PowerState == hangar.PowerGeneralized {
		if err := checkVM(pre, &v); err != nil {
			return hangar.VM{}, err
		}
		return view(v), nil
	}
	stopping := hangar.PowerStopping
	if err := m.db.UpdateVM(ctx, v.ID, store.VMUpdate{PowerState: &stopping, IfMatch: pre}); err != nil && !pre.IsZero() {
		return hangar.VM{}, err
	}
	m.halt(ctx, v.ID, m.cfg.StopTimeout)
	state, zero := hangar.PowerStopped, 0
	u := store.VMUpdate{PowerState: &state, PID: &zero}
	if deallocate {
		state = hangar.PowerDeallocated
		u.SSHPort = &zero
	}
	if v.ProvisioningState == hangar.ProvisioningCreating {
		// Stopped before the guest reported: a later start provisions again.
		msg := "stopped before the guest reported ready"
		u.ProvisioningMessage = &msg
	}
	if err := m.db.UpdateVM(ctx, v.ID, u); err != nil {
		return hangar.VM{}, err
	}
	m.log.Info("vm stopped", "vm", name, "deallocated", deallocate)
	return m.Get(ctx, actor, name)
}

// halt ends a VM's QEMU: a clean poweroff through the guest agent (file systems
// unmounted) or the ACPI power button, up to grace; then QEMU quits (flushing its
// own caches); then it is killed.
func (m *Manager) halt(ctx context.Context, id string, grace time.Duration) {
	mc := m.machine(id)
	if mc == nil {
		return
	}
	mc.expectExit()
	if grace > 0 {
		mc.send(map[string]string{"type": "run", "id": "hangar-poweroff", "script": "sync; poweroff"})
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		mc.qmp.SystemPowerdown(qctx)
		cancel()
		select {
		case <-mc.exited:
			return
		case <-time.After(grace):
		}
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	mc.qmp.Quit(qctx)
	cancel()
	select {
	case <-mc.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(mc.pid, syscall.SIGKILL)
		<-mc.exited
	}
}

// Restart resets a running VM, or starts a stopped one. pre applies to its first
// step; the second one follows from it.
func (m *Manager) Restart(ctx context.Context, actor *hangar.Tenant, name string, pre hangar.Precondition) (hangar.VM, error) {
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil {
		return hangar.VM{}, err
	}
	if mc := m.machine(v.ID); mc != nil && v.PowerState == hangar.PowerRunning {
		if _, err := m.Stop(ctx, actor, name, false, pre); err != nil {
			return hangar.VM{}, err
		}
		pre = hangar.Precondition{}
	}
	return m.Start(ctx, actor, name, pre)
}

// Delete stops a VM and removes it with its disks' overlays. Bases no other VM uses
// are removed too. pre applies to the move to deleting.
func (m *Manager) Delete(ctx context.Context, actor *hangar.Tenant, name string, pre hangar.Precondition) error {
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil {
		return err
	}
	deleting := hangar.PowerDeleting
	if err := m.db.UpdateVM(ctx, v.ID, store.VMUpdate{PowerState: &deleting, IfMatch: pre}); err != nil && !pre.IsZero() {
		return err
	}
	m.halt(ctx, v.ID, 0)
	if err := os.RemoveAll(m.vmDir(v.ID)); err != nil {
		return err
	}
	os.RemoveAll(m.socketDir(v.ID))
	if err := m.db.DeleteVM(ctx, v.ID); err != nil {
		return err
	}
	for _, id := range v.DiskIDs {
		if used, err := m.db.DiskUsedByVM(ctx, id); err == nil && !used {
			m.bases.remove(id)
		}
	}
	m.log.Info("vm deleted", "vm", name)
	return nil
}

// SerialLog returns the last maxBytes of the VM's serial console.
func (m *Manager) SerialLog(ctx context.Context, actor *hangar.Tenant, name string, maxBytes int64) (hangar.SerialLog, error) {
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil {
		return hangar.SerialLog{}, err
	}
	if maxBytes <= 0 || maxBytes > 4<<20 {
		maxBytes = 256 << 10
	}
	data, err := m.readSerial(v.ID, maxBytes)
	return hangar.SerialLog{Log: strings.ToValidUTF8(string(data), "?")}, err
}

// Adopt runs when hangar serve starts on a compute host: its VMs whose QEMU still
// runs are supervised again; VMs whose QEMU is gone are marked stopped (or failed, if they were being
// created). No QEMU process and no disk is left without an owner.
func (m *Manager) Adopt(ctx context.Context) error {
	if !m.RunsVMs() {
		return nil
	}
	vms, err := m.db.VMsOnHost(ctx, m.cfg.Host.Name)
	if err != nil {
		return err
	}
	for i := range vms {
		v := &vms[i]
		switch v.PowerState {
		case hangar.PowerRunning, hangar.PowerCreating, hangar.PowerStopping, hangar.PowerDeleting, hangar.PowerUnknown:
		default:
			continue
		}
		if v.PID > 0 && m.isOurQEMU(v.PID, v.ID) {
			if err := m.adopt(ctx, v); err == nil {
				continue
			}
			syscall.Kill(v.PID, syscall.SIGKILL)
		}
		m.settleOrphan(ctx, v)
	}
	return nil
}

// isOurQEMU checks that pid is alive and is the QEMU of this VM (its -name).
func (m *Manager) isOurQEMU(pid int, id string) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(data), "\x00")
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-name" && args[i+1] == id {
			return true
		}
	}
	return false
}

func (m *Manager) adopt(ctx context.Context, v *store.VM) error {
	mc := newMachine(v.ID, v.PID, filepath.Join(m.vmDir(v.ID), qemuLog))
	go func() { // not our child any more: poll for its end
		for syscall.Kill(mc.pid, 0) == nil && m.isOurQEMU(mc.pid, v.ID) {
			time.Sleep(500 * time.Millisecond)
		}
		close(mc.exited)
	}()
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	mon, err := qmp.Dial(qctx, m.socketPath(v.ID, qmpSocket))
	if err != nil {
		return err
	}
	mc.qmp = mon
	// The VM's network went with the server that ran it: QEMU listens again, and
	// the SSH port is bound again (another one if it was taken meanwhile).
	ssh, err := listenSSH(v.SSHPort)
	if err != nil {
		mon.Close()
		return err
	}
	u := store.VMUpdate{}
	if port := portOf(ssh); port != v.SSHPort {
		m.log.Warn("the VM's SSH port was taken while hangar serve was down; it has a new one", "vm", v.Name, "was", v.SSHPort, "now", port)
		u.SSHPort = &port
	}
	if err := m.startNetwork(v, mc, ssh); err != nil {
		mon.Close()
		return err
	}
	m.mu.Lock()
	m.machines[v.ID] = mc
	m.mu.Unlock()
	if v.PowerState != hangar.PowerRunning {
		running := hangar.PowerRunning
		u.PowerState = &running
	}
	m.db.UpdateVM(ctx, v.ID, u)
	go m.supervise(v.ID, mc)
	go m.listenAgent(v, mc)
	go m.rotateSerial(v.ID, v.Name, mc)
	m.log.Info("vm re-adopted", "vm", v.Name, "pid", v.PID)
	return nil
}

func (m *Manager) settleOrphan(ctx context.Context, v *store.VM) {
	state, zero := hangar.PowerStopped, 0
	u := store.VMUpdate{PowerState: &state, PID: &zero}
	if v.PowerState == hangar.PowerCreating {
		state = hangar.PowerFailed
		msg := "hangar serve stopped while the VM was being created; delete it and create it again"
		u.ProvisioningMessage = &msg
	}
	m.db.UpdateVM(ctx, v.ID, u)
	m.log.Info("vm found not running after restart", "vm", v.Name, "state", state)
}

// Close lets go of the running VMs without stopping them: they keep running and the
// next hangar serve adopts them.
func (m *Manager) Close() {
	m.closeNetworks()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mc := range m.machines {
		mc.expectExit()
		mc.qmp.Close()
	}
}
