-- The web console's sessions, shared by every node on this database and kept
-- across restarts (docs/console.md). The browser's cookie holds a random session
-- ID and a random secret; a row is found by the ID's SHA-256 and holds the API key
-- only sealed (AES-256-GCM) under a key derived from the secret, which is never
-- stored: this table, dumped or read by anyone, yields no usable API key.
CREATE TABLE console_sessions (
    id_hash      TEXT PRIMARY KEY, -- hex SHA-256 of the session ID
    key_hash     TEXT NOT NULL,    -- hex SHA-256 of the API key, as api_keys.key_hash: the per-key bound
    sealed_key   TEXT NOT NULL,    -- base64: GCM nonce, then the sealed API key
    created_at   BIGINT NOT NULL,  -- Unix microseconds
    last_used_at BIGINT NOT NULL,  -- updated at most once a minute
    expires_at   BIGINT NOT NULL   -- created_at plus the maximum age
);
CREATE INDEX console_sessions_key ON console_sessions (key_hash, created_at);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
