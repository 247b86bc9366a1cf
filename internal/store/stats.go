package store

import "context"

// Stats is what the metrics report about the metadata: totals, not per tenant.
type Stats struct {
	Disks, DiskStoredBytes, DiskVirtualBytes int64
	UploadsInProgress                        int64
	VMs                                      []VMCount
	// Replication not yet done: the copies still Replicating, and the bytes they
	// still miss.
	ReplicationsPending, ReplicationBacklogBytes int64
	// Webhook deliveries not yet delivered, and those that failed for good.
	DeliveriesPending, DeliveriesFailed int64
	// Disks whose checksums are not computed yet.
	DisksWithoutChecksums int64
}

// VMCount is how many VMs are in a power state on a host.
type VMCount struct {
	Host, PowerState string
	N                int64
}

// Stats counts what the metrics report; each is one aggregate query.
func (d *DB) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := d.queryRow(ctx, d.db, `SELECT COUNT(*), COALESCE(SUM(stored_bytes), 0), COALESCE(SUM(virtual_size), 0) FROM disks`).
		Scan(&s.Disks, &s.DiskStoredBytes, &s.DiskVirtualBytes)
	if err != nil {
		return s, err
	}
	if err := d.queryRow(ctx, d.db, `SELECT COUNT(*) FROM uploads`).Scan(&s.UploadsInProgress); err != nil {
		return s, err
	}
	err = d.queryRow(ctx, d.db, `SELECT COUNT(*), COALESCE(SUM(total_bytes - done_bytes), 0) FROM version_replicas WHERE state = 'Replicating'`).
		Scan(&s.ReplicationsPending, &s.ReplicationBacklogBytes)
	if err != nil {
		return s, err
	}
	err = d.queryRow(ctx, d.db, `SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) FROM event_deliveries`).
		Scan(&s.DeliveriesPending, &s.DeliveriesFailed)
	if err != nil {
		return s, err
	}
	if err := d.queryRow(ctx, d.db, `SELECT COUNT(*) FROM disks WHERE sha256 = ''`).Scan(&s.DisksWithoutChecksums); err != nil {
		return s, err
	}
	rows, err := d.query(ctx, d.db, `SELECT host_name, power_state, COUNT(*) FROM vms GROUP BY host_name, power_state ORDER BY host_name, power_state`)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	for rows.Next() {
		var c VMCount
		if err := rows.Scan(&c.Host, &c.PowerState, &c.N); err != nil {
			return s, err
		}
		s.VMs = append(s.VMs, c)
	}
	return s, rows.Err()
}
