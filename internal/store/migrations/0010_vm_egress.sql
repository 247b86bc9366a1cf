-- What a VM's guest may reach outside its host: internet or none (hangar vm create
-- --egress). VMs made before it existed keep the network they had: internet.
ALTER TABLE vms ADD COLUMN egress TEXT NOT NULL DEFAULT 'internet';
