CREATE TABLE vms (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    name                 TEXT NOT NULL,
    image_ref            TEXT NOT NULL,
    os_type              TEXT NOT NULL,
    os_state             TEXT NOT NULL,
    hyperv_generation    TEXT NOT NULL,
    size_name            TEXT NOT NULL,
    vcpus                BIGINT NOT NULL,
    memory_mib           BIGINT NOT NULL,
    computer_name        TEXT NOT NULL,
    admin_username       TEXT NOT NULL,
    power_state          TEXT NOT NULL,
    provisioning_state   TEXT NOT NULL,
    provisioning_message TEXT NOT NULL,
    instance_id          TEXT NOT NULL,
    ssh_port             BIGINT NOT NULL,
    pid                  BIGINT NOT NULL,
    accel                TEXT NOT NULL,
    provisioning_timeout BIGINT NOT NULL, -- milliseconds
    last_started_at      BIGINT NOT NULL, -- Unix microseconds; 0 never
    last_backup_at       BIGINT NOT NULL, -- Unix microseconds; 0 never
    created_at           BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- lun -1 is the OS disk. source_disk_id is the stored disk the overlay sits on.
CREATE TABLE vm_disks (
    vm_id          TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
    lun            BIGINT NOT NULL,
    source_disk_id TEXT NOT NULL REFERENCES disks(id),
    virtual_size   BIGINT NOT NULL,
    PRIMARY KEY (vm_id, lun)
);
CREATE INDEX vm_disks_source ON vm_disks (source_disk_id);
