-- Chunks that scrub found corrupt and removed. Disks still reference them, but an
-- upload must not be told they are present: sending them again heals the store.
CREATE TABLE lost_chunks (
    digest  TEXT PRIMARY KEY,
    lost_at BIGINT NOT NULL
);
