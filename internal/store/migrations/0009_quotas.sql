-- Each tenant's own limits. A NULL column follows the server's default (hangar serve
-- --quota-max-...); -1 is unlimited.
CREATE TABLE tenant_limits (
    tenant_id          TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    stored_bytes       BIGINT,
    total_virtual_size BIGINT,
    disks              BIGINT,
    images             BIGINT,
    vms                BIGINT,
    vcpus              BIGINT,
    memory_mib         BIGINT,
    uploads            BIGINT
);

-- Quota checks count a tenant's uploads in progress.
CREATE INDEX uploads_tenant ON uploads (tenant_id);
