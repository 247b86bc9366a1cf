-- Marketplace syndication (docs/syndication.md). This installation's Ed25519 signing
-- key is the cluster secret named "signing-key" (base64 of its seed), made on first
-- start.
--
-- upstreams: the installations this one pulls its marketplace from. api_key is the
-- subscriber's key there, kept like the cluster secret and never shown back;
-- public_key is the upstream's pinned signing key.
CREATE TABLE upstreams (
    name        TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    api_key     TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  BIGINT NOT NULL  -- Unix microseconds
);

-- What an admin asked to pull: PUBLISHER:OFFER[:SKU[:VERSION]] (as given), and
-- whether new versions are followed. checked_at: the last look at the upstream.
CREATE TABLE syndications (
    upstream   TEXT NOT NULL REFERENCES upstreams(name) ON DELETE CASCADE,
    pattern    TEXT NOT NULL,
    follow     BOOLEAN NOT NULL,
    message    TEXT NOT NULL,
    checked_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (upstream, pattern)
);

-- One pull of one upstream version, leased like a replication job. signed_entry is
-- the upstream's signed entry (JSON of syndicate.Signed) the pull checks everything
-- against; urn_key is the URN in lower case.
CREATE TABLE syndication_jobs (
    upstream      TEXT NOT NULL REFERENCES upstreams(name) ON DELETE CASCADE,
    urn_key       TEXT NOT NULL,
    urn           TEXT NOT NULL,
    signed_entry  TEXT NOT NULL,
    state         TEXT NOT NULL,   -- Pulling, Completed or Failed
    message       TEXT NOT NULL,
    total_bytes   BIGINT NOT NULL,
    done_bytes    BIGINT NOT NULL,
    copied_bytes  BIGINT NOT NULL,
    total_chunks  BIGINT NOT NULL,
    done_chunks   BIGINT NOT NULL,
    copied_chunks BIGINT NOT NULL,
    worker        TEXT NOT NULL,
    lease_until   BIGINT NOT NULL, -- Unix microseconds
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (upstream, urn_key)
);

-- Provenance of a syndicated marketplace version ('' and 0 for a local one), and
-- when upstream stopped offering it (0: it still does). end_of_life as upstream says.
ALTER TABLE marketplace_entries ADD COLUMN upstream TEXT NOT NULL DEFAULT '';
ALTER TABLE marketplace_entries ADD COLUMN upstream_key TEXT NOT NULL DEFAULT '';
ALTER TABLE marketplace_entries ADD COLUMN pulled_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE marketplace_entries ADD COLUMN withdrawn_at BIGINT NOT NULL DEFAULT 0;

-- The chunks of versions being pulled or imported, by upstream and URN: garbage
-- collection keeps them (MarkForDeletion) until the version is made visible, so
-- that a pull paused for long, or a bundle imported part by part over days, loses
-- nothing it already brought.
CREATE TABLE syndication_chunks (
    upstream TEXT NOT NULL,
    urn_key  TEXT NOT NULL,
    digest   TEXT NOT NULL,
    PRIMARY KEY (upstream, urn_key, digest)
);
CREATE INDEX syndication_chunks_digest ON syndication_chunks (digest);

-- Manifests a bundle import has received and checked against their signed entry,
-- by upstream and the manifest's SHA-256, until the version is made visible.
CREATE TABLE syndication_manifests (
    upstream   TEXT NOT NULL,
    digest     TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (upstream, digest)
);
