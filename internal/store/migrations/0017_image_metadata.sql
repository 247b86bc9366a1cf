-- Image metadata: free-form properties on image versions (Glance's image
-- properties, a JSON object of strings); what Azure's image definitions say about
-- the VMs that fit an image (recommended vCPUs and memory, features, disallowed
-- disk types: JSON of hangar.ImageRequirements); and the disk type (storage SKU)
-- of a VM, which its image may disallow.
ALTER TABLE image_versions ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';
ALTER TABLE images ADD COLUMN requirements TEXT NOT NULL DEFAULT '{}';
ALTER TABLE vms ADD COLUMN storage_sku TEXT NOT NULL DEFAULT '';
