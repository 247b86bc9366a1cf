-- Replication of image versions to other regions' chunk stores. A row is one target
-- region of one version; its job is held by one node at a time through a lease, so a
-- node that dies mid-copy hands the job on when the lease runs out.
CREATE TABLE version_replicas (
    version_id    TEXT NOT NULL REFERENCES image_versions(id) ON DELETE CASCADE,
    region        TEXT NOT NULL,
    replica_count BIGINT NOT NULL,
    state         TEXT NOT NULL,   -- Replicating, Completed or Failed (Azure's names)
    message       TEXT NOT NULL,
    total_bytes   BIGINT NOT NULL, -- stored bytes of the version's distinct chunks
    done_bytes    BIGINT NOT NULL, -- of those, present in the region
    copied_bytes  BIGINT NOT NULL, -- of those, copied by replication (the rest was there)
    worker        TEXT NOT NULL,
    lease_until   BIGINT NOT NULL, -- Unix microseconds
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (version_id, region)
);
