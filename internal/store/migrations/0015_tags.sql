-- Tags: KEY=VALUE labels a tenant puts on its disks, images, image versions and VMs,
-- as Azure tags its resources, to find them in lists. A JSON object of strings.
ALTER TABLE disks ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
ALTER TABLE images ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
ALTER TABLE image_versions ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
ALTER TABLE vms ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
