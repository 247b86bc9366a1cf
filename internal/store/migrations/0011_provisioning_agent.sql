-- Which software in the guest provisions a VM from the image and reports it ready
-- (hangar image create --provisioning-agent): auto, azure, nocloud, hangar or none.
-- Images and VMs made before it existed: auto, which waits for any of them.
ALTER TABLE images ADD COLUMN provisioning_agent TEXT NOT NULL DEFAULT 'auto';
ALTER TABLE vms ADD COLUMN provisioning_agent TEXT NOT NULL DEFAULT 'auto';
