package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// VM is a VM as stored: the domain view plus what only the host needs.
type VM struct {
	hangar.VM
	TenantID   string
	InstanceID string
	PID        int
	// ProvisioningTimeout bounds the wait for the guest's ready report.
	ProvisioningTimeout time.Duration
	// LastStarted and LastBackup tell whether a backup holds the VM's latest state.
	LastStarted, LastBackup time.Time
	// DiskIDs holds the source disk of each disk, in the order of VM.Disks.
	DiskIDs []string
}

const vmCols = `id, tenant_id, name, image_ref, os_type, os_state, hyperv_generation, size_name, vcpus, memory_mib,
	computer_name, admin_username, power_state, provisioning_state, provisioning_message, instance_id, ssh_port, pid, accel, provisioning_timeout, last_started_at, last_backup_at, created_at, host_name, egress, provisioning_agent`

// vmSelect reads vmCols and the revision, which a new row takes from its default.
const vmSelect = `SELECT ` + vmCols + `, revision, tags, storage_sku FROM vms `

func scanVM(row interface{ Scan(...any) error }) (VM, error) {
	var v VM
	var micro, timeoutMS, started, backup, rev int64
	var tags string
	err := row.Scan(&v.ID, &v.TenantID, &v.Name, &v.Image, &v.OSType, &v.OSState, &v.HyperVGeneration, &v.Size.Name, &v.Size.VCPUs,
		&v.Size.MemoryMiB, &v.ComputerName, &v.AdminUsername, &v.PowerState, &v.ProvisioningState, &v.ProvisioningMessage,
		&v.InstanceID, &v.SSHPort, &v.PID, &v.Accel, &timeoutMS, &started, &backup, &micro, &v.Host, &v.Egress, &v.ProvisioningAgent, &rev, &tags, &v.StorageSKU)
	v.ETag, v.Tags = hangar.ETag(v.ID, rev), parseTags(tags)
	if started != 0 {
		v.LastStarted = fromMicros(started)
	}
	if backup != 0 {
		v.LastBackup = fromMicros(backup)
	}
	v.CreatedAt = fromMicros(micro)
	v.ProvisioningTimeout = time.Duration(timeoutMS) * time.Millisecond
	return v, err
}

func vmNotFound(name string) error {
	return hangar.Errorf(hangar.CodeNotFound, "VM %q not found; `hangar vm list` shows your VMs", name)
}

// CreateVM stores a new VM with its disks, within its tenant's quotas and its
// host's capacity.
func (d *DB) CreateVM(ctx context.Context, v *VM) error {
	v.ID = NewID()
	at := now()
	v.CreatedAt = fromMicros(at)
	v.ETag = hangar.ETag(v.ID, 1)
	if v.Egress == "" {
		v.Egress = hangar.EgressInternet
	}
	if v.ProvisioningAgent == "" {
		v.ProvisioningAgent = hangar.AgentAuto
	}
	add := hangar.Resources{VMs: 1, VCPUs: int64(v.Size.VCPUs), MemoryMiB: int64(v.Size.MemoryMiB)}
	for _, dk := range v.Disks {
		add.TotalVirtualSize += dk.VirtualSize
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		// The tenant's quota first: its refusal is final, the host's is not.
		if err := d.checkQuota(ctx, tx, v.TenantID, add); err != nil {
			return err
		}
		if err := d.checkCapacity(ctx, tx, v); err != nil {
			return err
		}
		_, err := d.exec(ctx, tx, `INSERT INTO vms (`+vmCols+`, storage_sku) VALUES (`+placeholders(27)+`)`,
			v.ID, v.TenantID, v.Name, v.Image, v.OSType, v.OSState, v.HyperVGeneration, v.Size.Name, v.Size.VCPUs, v.Size.MemoryMiB,
			v.ComputerName, v.AdminUsername, v.PowerState, v.ProvisioningState, v.ProvisioningMessage, v.InstanceID, v.SSHPort, v.PID, v.Accel, v.ProvisioningTimeout.Milliseconds(), 0, 0, at, v.Host, string(v.Egress), string(v.ProvisioningAgent), v.StorageSKU)
		if isUniqueViolation(err) {
			return hangar.Errorf(hangar.CodeConflict, "VM %q already exists; choose another name", v.Name)
		}
		if err != nil {
			return err
		}
		for i, dk := range v.Disks {
			if _, err := d.exec(ctx, tx, `INSERT INTO vm_disks (vm_id, lun, source_disk_id, virtual_size) VALUES (?, ?, ?, ?)`,
				v.ID, dk.LUN, v.DiskIDs[i], dk.VirtualSize); err != nil {
				return err
			}
		}
		d.event(tx, v.TenantID, hangar.EventVMCreated, "vms/"+v.Name, hangar.EventVM{VM: v.Name, Image: v.Image,
			PowerState: v.PowerState, ProvisioningState: v.ProvisioningState})
		return d.recordGroup(ctx, tx, v.TenantID, ARMStandsForVM, v.Name, v.ResourceGroup)
	})
}

func (d *DB) vmDisks(ctx context.Context, v *VM) error {
	rows, err := d.query(ctx, d.db, `SELECT lun, source_disk_id, virtual_size FROM vm_disks WHERE vm_id = ? ORDER BY lun`, v.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	v.Disks, v.DiskIDs = []hangar.VMDisk{}, nil
	for rows.Next() {
		var dk hangar.VMDisk
		var id string
		if err := rows.Scan(&dk.LUN, &id, &dk.VirtualSize); err != nil {
			return err
		}
		v.Disks = append(v.Disks, dk)
		v.DiskIDs = append(v.DiskIDs, id)
	}
	return rows.Err()
}

// VMByName returns the tenant's VM.
func (d *DB) VMByName(ctx context.Context, tenantID, name string) (VM, error) {
	v, err := scanVM(d.queryRow(ctx, d.db, vmSelect+`WHERE tenant_id = ? AND name = ?`, tenantID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return v, vmNotFound(name)
	}
	if err != nil {
		return v, err
	}
	return v, d.vmDisks(ctx, &v)
}

// ListVMs lists a tenant's VMs, or every VM when tenantID is empty.
func (d *DB) ListVMs(ctx context.Context, tenantID string) ([]VM, error) {
	if tenantID == "" {
		return d.listVMs(ctx, vmSelect+`ORDER BY name`)
	}
	return d.listVMs(ctx, vmSelect+`WHERE tenant_id = ? ORDER BY name`, tenantID)
}

// VMsOnHost lists the VMs placed on a host, only those in the given power states
// when any are given.
func (d *DB) VMsOnHost(ctx context.Context, host string, states ...hangar.PowerState) ([]VM, error) {
	q, args := vmSelect+`WHERE host_name = ?`, []any{host}
	if len(states) > 0 {
		q += ` AND power_state IN (` + placeholders(len(states)) + `)`
		for _, st := range states {
			args = append(args, string(st))
		}
	}
	return d.listVMs(ctx, q+` ORDER BY name`, args...)
}

func (d *DB) listVMs(ctx context.Context, q string, args ...any) ([]VM, error) {
	rows, err := d.query(ctx, d.db, q, args...)
	if err != nil {
		return nil, err
	}
	var out []VM
	for rows.Next() {
		v, err := scanVM(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if err := d.vmDisks(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// VMUpdate is a change of a VM's runtime fields; nil fields stay.
type VMUpdate struct {
	// IfMatch makes the update conditional; with it, an update that sets nothing
	// still moves the revision, claiming the VM for an action about to start.
	IfMatch             hangar.Precondition
	PowerState          *hangar.PowerState
	ProvisioningState   *hangar.ProvisioningState
	ProvisioningMessage *string
	PID                 *int
	SSHPort             *int
	Accel               *string
	Started             bool // set last_started_at to now
	BackedUp            bool // set last_backup_at to now
}

// UpdateVM changes a VM's runtime fields and moves its revision. Without IfMatch,
// an update of a VM deleted meanwhile does nothing: the goroutines that watch a VM
// may report on it after it is gone.
func (d *DB) UpdateVM(ctx context.Context, id string, u VMUpdate) error {
	sets, args := []string{}, []any{}
	add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
	if u.PowerState != nil {
		add("power_state", string(*u.PowerState))
	}
	if u.ProvisioningState != nil {
		add("provisioning_state", string(*u.ProvisioningState))
	}
	if u.ProvisioningMessage != nil {
		add("provisioning_message", *u.ProvisioningMessage)
	}
	if u.PID != nil {
		add("pid", *u.PID)
	}
	if u.SSHPort != nil {
		add("ssh_port", *u.SSHPort)
	}
	if u.Accel != nil {
		add("accel", *u.Accel)
	}
	if u.Started {
		add("last_started_at", now())
	}
	if u.BackedUp {
		add("last_backup_at", now())
	}
	if len(sets) == 0 && u.IfMatch.IsZero() {
		return nil
	}
	t := target{table: "vms", kind: "VM", id: id}
	if !u.IfMatch.IsZero() {
		t.missing = hangar.Errorf(hangar.CodeNotFound, "the VM was deleted meanwhile; `hangar vm list` shows your VMs")
	}
	if u.PowerState == nil && u.ProvisioningState == nil {
		_, err := d.bump(ctx, d.db, t, u.IfMatch, strings.Join(sets, ", "), args...)
		return err
	}
	// A change of state is an event, written with it.
	return d.tx(ctx, func(tx *sql.Tx) error {
		var before hangar.EventVM
		var tenantID string
		err := d.queryRow(ctx, tx, `SELECT tenant_id, name, power_state, provisioning_state FROM vms WHERE id = ?`, id).
			Scan(&tenantID, &before.VM, &before.PowerState, &before.ProvisioningState)
		if errors.Is(err, sql.ErrNoRows) {
			return t.missing
		}
		if err != nil {
			return err
		}
		if _, err := d.bump(ctx, tx, t, u.IfMatch, strings.Join(sets, ", "), args...); err != nil {
			return err
		}
		after := hangar.EventVM{VM: before.VM, PowerState: before.PowerState, ProvisioningState: before.ProvisioningState,
			PreviousPowerState: before.PowerState, PreviousProvisioningState: before.ProvisioningState}
		if u.PowerState != nil {
			after.PowerState = *u.PowerState
		}
		if u.ProvisioningState != nil {
			after.ProvisioningState = *u.ProvisioningState
		}
		if after.PowerState != before.PowerState || after.ProvisioningState != before.ProvisioningState {
			d.event(tx, tenantID, hangar.EventVMStateChanged, "vms/"+before.VM, after)
		}
		return nil
	})
}

// DeleteVM forgets a VM.
func (d *DB) DeleteVM(ctx context.Context, id string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		var tenantID, name string
		err := d.queryRow(ctx, tx, `DELETE FROM vms WHERE id = ? RETURNING tenant_id, name`, id).Scan(&tenantID, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		d.event(tx, tenantID, hangar.EventVMDeleted, "vms/"+name, hangar.EventVM{VM: name})
		return nil
	})
}

// DiskUsedByVM reports whether any VM's disk sits on the stored disk.
func (d *DB) DiskUsedByVM(ctx context.Context, diskID string) (bool, error) {
	var n int
	err := d.queryRow(ctx, d.db, `SELECT COUNT(*) FROM vm_disks WHERE source_disk_id = ?`, diskID).Scan(&n)
	return n > 0, err
}
