-- API keys get an identity, a name and a hint, so that a tenant's keys can be listed
-- and revoked one by one; the key itself is still stored only as its SHA-256.
-- Existing keys take a prefix of their hash as ID (it tells nothing about the key).
-- bootstrap marks the admin key made at first start or given by HANGAR_ADMIN_KEY,
-- which a new HANGAR_ADMIN_KEY replaces; every admin key made before this migration
-- was one of those.
ALTER TABLE api_keys ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN hint TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN bootstrap BIGINT NOT NULL DEFAULT 0;
UPDATE api_keys SET id = substr(key_hash, 1, 16);
UPDATE api_keys SET name = 'bootstrap', bootstrap = 1 WHERE tenant_id IN (SELECT id FROM tenants WHERE name = 'admin');
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Chunks that garbage collection decided to remove from a store ('' is the primary
-- store, else a region's), from the decision until the removal is done. The decision
-- is taken in the transaction that finds the chunk unreferenced, and every
-- transaction that adds a reference to a chunk refuses one listed here, so a chunk
-- is never removed while something refers to it.
CREATE TABLE chunk_deletions (
    region     TEXT NOT NULL,
    digest     TEXT NOT NULL,
    started_at BIGINT NOT NULL, -- Unix microseconds
    PRIMARY KEY (region, digest)
);
