-- The history of garbage collections and scrubs (kind 'gc' or 'scrub'): one row
-- per run, written when the run ends, succeeded or failed. A run is not written
-- when it starts: with several API nodes on one database, no node could tell
-- after a crash whether a run still marked running is another node's, alive, or
-- its own, dead; a run that never ended is simply absent (the node's log shows
-- it began). seq orders the runs as they were recorded; the store keeps the
-- latest 1,000 of each kind, trimming in the transaction that adds one.
CREATE TABLE hygiene_runs (
    seq        BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL,
    started_by TEXT NOT NULL,   -- the admin tenant's name (kept if the tenant goes)
    started_at BIGINT NOT NULL, -- Unix microseconds
    ended_at   BIGINT NOT NULL,
    outcome    TEXT NOT NULL,   -- succeeded or failed
    error      TEXT NOT NULL,
    request    TEXT NOT NULL,   -- JSON: what the run was asked (hangar.GCRequest; {} for a scrub)
    report     TEXT NOT NULL    -- JSON: hangar.GCReport or hangar.ScrubReport
);
CREATE INDEX hygiene_runs_kind ON hygiene_runs (kind, seq);
