package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Host is a compute host as registered, with the capacity its VMs use.
type Host struct {
	Name, NodeID, URL, Region string
	VCPUs, MemoryMiB          int64
	Heartbeat                 time.Time
	// UsedVCPUs and UsedMemoryMiB add up the VMs placed on the host that hold its
	// resources (every VM not deallocated, generalized, failed or being deleted).
	UsedVCPUs, UsedMemoryMiB int64
	VMs                      int
}

// holdingStates are the power states in which a VM keeps its host's CPU and memory,
// as on Azure, where only deallocation releases them.
const holdingStates = `('creating', 'running', 'stopping', 'stopped', 'unknown')`

// Heartbeat registers the host or refreshes its registration. A name another node
// holds, and heartbeats within staleAfter, is refused: two nodes would run the same
// VMs.
func (d *DB) Heartbeat(ctx context.Context, h Host, staleAfter time.Duration) error {
	at := now()
	return d.tx(ctx, func(tx *sql.Tx) error {
		var nodeID string
		var last int64
		err := d.queryRow(ctx, tx, `SELECT node_id, heartbeat_at FROM hosts WHERE name = ?`, h.Name).Scan(&nodeID, &last)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = d.exec(ctx, tx, `INSERT INTO hosts (name, node_id, url, region, vcpus, memory_mib, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				h.Name, h.NodeID, h.URL, h.Region, h.VCPUs, h.MemoryMiB, at)
			return err
		case err != nil:
			return err
		case nodeID != h.NodeID && at-last < staleAfter.Microseconds():
			return hangar.Errorf(hangar.CodeConflict, "host name %q is in use by another running node (at its last heartbeat %s ago); give this node another --host-name",
				h.Name, time.Duration(at-last)*time.Microsecond)
		}
		_, err = d.exec(ctx, tx, `UPDATE hosts SET node_id = ?, url = ?, region = ?, vcpus = ?, memory_mib = ?, heartbeat_at = ? WHERE name = ?`,
			h.NodeID, h.URL, h.Region, h.VCPUs, h.MemoryMiB, at, h.Name)
		return err
	})
}

// Hosts lists the registered hosts with the resources their VMs hold.
func (d *DB) Hosts(ctx context.Context) ([]Host, error) {
	return d.hosts(ctx, "")
}

// Host returns one registered host.
func (d *DB) Host(ctx context.Context, name string) (Host, error) {
	hosts, err := d.hosts(ctx, `WHERE h.name = ? `, name)
	if err != nil {
		return Host{}, err
	}
	if len(hosts) == 0 {
		return Host{}, hangar.Errorf(hangar.CodeNotFound, "compute host %q is not registered", name)
	}
	return hosts[0], nil
}

func (d *DB) hosts(ctx context.Context, where string, args ...any) ([]Host, error) {
	rows, err := d.query(ctx, d.db, `SELECT h.name, h.node_id, h.url, h.region, h.vcpus, h.memory_mib, h.heartbeat_at,
		COALESCE(SUM(v.vcpus), 0), COALESCE(SUM(v.memory_mib), 0), COUNT(v.id)
		FROM hosts h LEFT JOIN vms v ON v.host_name = h.name AND v.power_state IN `+holdingStates+` `+where+`
		GROUP BY h.name, h.node_id, h.url, h.region, h.vcpus, h.memory_mib, h.heartbeat_at ORDER BY h.name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Host
	for rows.Next() {
		var h Host
		var at int64
		if err := rows.Scan(&h.Name, &h.NodeID, &h.URL, &h.Region, &h.VCPUs, &h.MemoryMiB, &at, &h.UsedVCPUs, &h.UsedMemoryMiB, &h.VMs); err != nil {
			return nil, err
		}
		h.Heartbeat = fromMicros(at)
		out = append(out, h)
	}
	return out, rows.Err()
}

// MarkUnknown sets the power state of the VMs that were running on hosts silent since
// before deadline to unknown: nobody can tell whether they still run, so nothing may
// start them elsewhere. It returns how many VMs changed.
func (d *DB) MarkUnknown(ctx context.Context, deadline time.Time) (int64, error) {
	var n int64
	err := d.tx(ctx, func(tx *sql.Tx) error {
		rows, err := d.query(ctx, tx, `UPDATE vms SET power_state = 'unknown', revision = revision + 1
			WHERE power_state IN ('creating', 'running', 'stopping')
			AND host_name IN (SELECT name FROM hosts WHERE heartbeat_at < ?)
			RETURNING tenant_id, name, provisioning_state`, deadline.UnixMicro())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var tenantID string
			var e hangar.EventVM
			if err := rows.Scan(&tenantID, &e.VM, &e.ProvisioningState); err != nil {
				return err
			}
			// The state before is not known here; the VM's earlier events have it.
			e.PowerState, e.PreviousProvisioningState = hangar.PowerUnknown, e.ProvisioningState
			d.event(tx, tenantID, hangar.EventVMStateChanged, "vms/"+e.VM, e)
			n++
		}
		return rows.Err()
	})
	return n, err
}

// ClaimUnplacedVMs places the VMs that predate hosts on host: the node that ran them
// before the upgrade is the one starting now.
func (d *DB) ClaimUnplacedVMs(ctx context.Context, host string) error {
	_, err := d.exec(ctx, d.db, `UPDATE vms SET host_name = ?, revision = revision + 1 WHERE host_name = ''`, host)
	return err
}

// checkCapacity refuses a new VM its host has no room for. On PostgreSQL the host's
// row is locked until the transaction ends, so that two nodes placing VMs on one
// host at once cannot both take its last room; SQLite transactions are serialized.
func (d *DB) checkCapacity(ctx context.Context, tx *sql.Tx, v *VM) error {
	if v.Host == "" {
		return nil
	}
	lock := ""
	if d.dialect.numbered {
		lock = " FOR UPDATE"
	}
	var vcpus, mem int64
	err := d.queryRow(ctx, tx, `SELECT vcpus, memory_mib FROM hosts WHERE name = ?`+lock, v.Host).Scan(&vcpus, &mem)
	if errors.Is(err, sql.ErrNoRows) {
		return hangar.Errorf(hangar.CodeUnavailable, "compute host %q is not registered", v.Host)
	}
	if err != nil {
		return err
	}
	var usedCPU, usedMem int64
	if err := d.queryRow(ctx, tx, `SELECT COALESCE(SUM(vcpus), 0), COALESCE(SUM(memory_mib), 0) FROM vms WHERE host_name = ? AND power_state IN `+holdingStates,
		v.Host).Scan(&usedCPU, &usedMem); err != nil {
		return err
	}
	if usedCPU+int64(v.Size.VCPUs) > vcpus || usedMem+int64(v.Size.MemoryMiB) > mem {
		return hangar.Errorf(hangar.CodeUnavailable, "compute host %s has no room for a %s VM (%d/%d vCPUs and %d/%d MiB in use); retry: another host may have room",
			v.Host, v.Size.Name, usedCPU, vcpus, usedMem, mem)
	}
	return nil
}
