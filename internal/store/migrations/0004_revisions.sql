-- Optimistic concurrency: every change of a mutable resource moves its revision, and
-- a change made with If-Match applies only while the revision is still the one the
-- client read (the ETag is "REVISION-ID"). An image's revision covers its versions,
-- shares and community publication too. Existing rows start at revision 1.
ALTER TABLE images ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE disks ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE vms ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
