-- Compute hosts: the nodes that run VMs. Each heartbeats; a host whose heartbeat is
-- older than the timeout is down and its running VMs' state is unknown.
CREATE TABLE hosts (
    name         TEXT PRIMARY KEY,
    node_id      TEXT NOT NULL,   -- the data dir's identity: two live nodes cannot share a name
    url          TEXT NOT NULL,   -- where other nodes forward the calls for this host's VMs
    region       TEXT NOT NULL,
    vcpus        BIGINT NOT NULL,
    memory_mib   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL  -- Unix microseconds
);

-- The host a VM is placed on; '' for VMs made before hosts existed, which the first
-- node to start claims.
ALTER TABLE vms ADD COLUMN host_name TEXT NOT NULL DEFAULT '';
CREATE INDEX vms_host ON vms (host_name);
