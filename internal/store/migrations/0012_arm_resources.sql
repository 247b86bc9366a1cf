-- What the Azure Resource Manager API (package arm) keeps that Hangar's own model
-- has no place for: galleries and gallery image definitions, and which Hangar image
-- or VM a name in a resource group stands for, so that one name can live in several
-- groups. kind: image, gallery, galleryImage or vm.
CREATE TABLE arm_resources (
    tenant_id      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    parent         TEXT NOT NULL,  -- lower-case resource group; "group/gallery" for a galleryImage
    name_key       TEXT NOT NULL,  -- lower-case name: ARM names are case-insensitive
    resource_group TEXT NOT NULL,  -- as first written
    name           TEXT NOT NULL,  -- as first written
    hangar_kind    TEXT NOT NULL,  -- image or vm; "" for a gallery
    hangar_name    TEXT NOT NULL,  -- the Hangar image or VM it stands for; "" for a gallery
    location       TEXT NOT NULL,
    properties     TEXT NOT NULL,  -- JSON that package arm keeps (a definition's identifier, ...)
    created_at     BIGINT NOT NULL, -- Unix microseconds
    PRIMARY KEY (tenant_id, kind, parent, name_key)
);
CREATE UNIQUE INDEX arm_resources_hangar ON arm_resources (tenant_id, hangar_kind, hangar_name) WHERE hangar_name <> '';
