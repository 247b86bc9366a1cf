-- One schema for SQLite and PostgreSQL: only types and syntax both accept.
-- Times are Unix microseconds (BIGINT); version parts are BIGINT because each is a
-- 32-bit unsigned integer, beyond PostgreSQL's INTEGER.

CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,
    entitlements TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_hash   TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);

CREATE TABLE disks (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    name          TEXT NOT NULL,
    virtual_size  BIGINT NOT NULL,
    stored_bytes  BIGINT NOT NULL,
    source_format TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE disk_extents (
    disk_id TEXT NOT NULL REFERENCES disks(id) ON DELETE CASCADE,
    offset_bytes BIGINT NOT NULL,
    length  BIGINT NOT NULL,
    digest  TEXT NOT NULL,
    PRIMARY KEY (disk_id, offset_bytes)
);
CREATE INDEX disk_extents_digest ON disk_extents (digest);

CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    name          TEXT NOT NULL,
    virtual_size  BIGINT NOT NULL,
    source_format TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    digest    TEXT NOT NULL,
    PRIMARY KEY (upload_id, digest)
);
CREATE INDEX upload_chunks_digest ON upload_chunks (digest);

CREATE TABLE images (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    name              TEXT NOT NULL,
    image_type        TEXT NOT NULL,
    os_type           TEXT NOT NULL,
    os_state          TEXT NOT NULL,
    hyperv_generation TEXT NOT NULL,
    architecture      TEXT NOT NULL,
    description       TEXT NOT NULL,
    eula              TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE image_versions (
    id                  TEXT PRIMARY KEY,
    image_id            TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    major               BIGINT NOT NULL,
    minor               BIGINT NOT NULL,
    patch               BIGINT NOT NULL,
    exclude_from_latest BOOLEAN NOT NULL,
    end_of_life         TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    UNIQUE (image_id, major, minor, patch)
);
CREATE INDEX image_versions_latest ON image_versions (image_id, exclude_from_latest, major, minor, patch);

-- lun -1 is the OS disk.
CREATE TABLE image_version_disks (
    version_id TEXT NOT NULL REFERENCES image_versions(id) ON DELETE CASCADE,
    lun        BIGINT NOT NULL,
    disk_id    TEXT NOT NULL REFERENCES disks(id),
    PRIMARY KEY (version_id, lun)
);
CREATE INDEX image_version_disks_disk ON image_version_disks (disk_id);

CREATE TABLE image_shares (
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    PRIMARY KEY (image_id, tenant_id)
);
CREATE INDEX image_shares_tenant ON image_shares (tenant_id);

-- A public name belongs to the tenant that first published under it.
CREATE TABLE community_names (
    public_name TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id)
);

CREATE TABLE community_images (
    image_id        TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    public_name     TEXT NOT NULL REFERENCES community_names(public_name),
    image_name      TEXT NOT NULL,
    publisher_uri   TEXT NOT NULL,
    publisher_email TEXT NOT NULL,
    eula            TEXT NOT NULL,
    UNIQUE (public_name, image_name)
);

-- A marketplace publisher name belongs to the tenant that first published under it.
-- URN parts match case-insensitively, as Azure's do: *_key columns hold them in
-- lower case, so lookups use the primary key index on any database.
CREATE TABLE marketplace_publishers (
    name      TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id)
);

CREATE TABLE marketplace_entries (
    publisher_key       TEXT NOT NULL REFERENCES marketplace_publishers(name),
    offer_key           TEXT NOT NULL,
    sku_key             TEXT NOT NULL,
    publisher           TEXT NOT NULL,
    offer               TEXT NOT NULL,
    sku                 TEXT NOT NULL,
    major               BIGINT NOT NULL,
    minor               BIGINT NOT NULL,
    patch               BIGINT NOT NULL,
    version_id          TEXT NOT NULL REFERENCES image_versions(id),
    plan                TEXT NOT NULL,
    entitlement         TEXT NOT NULL,
    exclude_from_latest BOOLEAN NOT NULL,
    created_at          BIGINT NOT NULL,
    PRIMARY KEY (publisher_key, offer_key, sku_key, major, minor, patch)
);
CREATE INDEX marketplace_entries_version ON marketplace_entries (version_id);

-- publisher and offer in lower case (keys), plan as published.
CREATE TABLE terms_acceptances (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    publisher   TEXT NOT NULL,
    offer       TEXT NOT NULL,
    plan        TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, publisher, offer, plan)
);
