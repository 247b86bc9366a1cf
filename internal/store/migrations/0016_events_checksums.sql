-- Events: what happened to a tenant's resources, in the order it happened. Each
-- event is written in the transaction of the change it reports (an outbox), and
-- takes its sequence number from event_counter's one row: that row's lock orders
-- the writers, so sequence order is commit order on PostgreSQL too and a reader
-- that asks for "after N" never skips an event that commits late.
CREATE TABLE event_counter (
    id   BIGINT PRIMARY KEY,
    last BIGINT NOT NULL
);
INSERT INTO event_counter (id, last) VALUES (1, 0);

CREATE TABLE events (
    seq        BIGINT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    type       TEXT NOT NULL,
    subject    TEXT NOT NULL,  -- the resource: disks/NAME, images/NAME/versions/V, vms/NAME
    data       TEXT NOT NULL,  -- JSON
    created_at BIGINT NOT NULL -- Unix microseconds
);
CREATE INDEX events_tenant ON events (tenant_id, seq);

-- Webhooks: a tenant's HTTP receivers of its events (an admin's receive every
-- tenant's). The secret signs each delivery (HMAC-SHA256), so it is kept as is.
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    types      TEXT NOT NULL, -- space-separated event types; '' is every type
    created_at BIGINT NOT NULL
);

-- One row per event and webhook it goes to, written with the event. A delivery is
-- pending until the receiver answers 2xx (delivered) or retries run out (failed).
-- Deliveries of one resource to one webhook go in sequence order.
CREATE TABLE event_deliveries (
    webhook_id   TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    subject      TEXT NOT NULL,
    state        TEXT NOT NULL,   -- pending, delivered or failed
    attempts     BIGINT NOT NULL,
    next_at      BIGINT NOT NULL, -- Unix microseconds: not before
    lease_until  BIGINT NOT NULL, -- a node delivering it holds it until then
    last_status  BIGINT NOT NULL, -- the receiver's last HTTP status (0: none)
    last_error   TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, seq)
);
CREATE INDEX event_deliveries_pending ON event_deliveries (state, next_at);
CREATE INDEX event_deliveries_subject ON event_deliveries (webhook_id, subject, seq);

-- Checksums of each disk's raw content and of its fixed-VHD export, computed once
-- after the disk is stored ('' until then). digest_lease_until keeps two nodes
-- from computing the same disk's at once.
ALTER TABLE disks ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE disks ADD COLUMN md5 TEXT NOT NULL DEFAULT '';
ALTER TABLE disks ADD COLUMN vhd_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE disks ADD COLUMN vhd_md5 TEXT NOT NULL DEFAULT '';
ALTER TABLE disks ADD COLUMN digest_lease_until BIGINT NOT NULL DEFAULT 0;
CREATE INDEX disks_undigested ON disks (digest_lease_until) WHERE sha256 = '';
