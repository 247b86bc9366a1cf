-- Secrets the nodes of a cluster share, by name: "forwarding" signs the calls one
-- node forwards to another (package nodeauth). The first node to start writes it;
-- the others read it. A secret given to serve (--cluster-secret-file,
-- HANGAR_CLUSTER_SECRET) is not stored here.
CREATE TABLE cluster_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL  -- Unix microseconds
);
