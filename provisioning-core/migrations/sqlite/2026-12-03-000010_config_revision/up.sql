-- Moves with every change to a tenant's mapping, group permissions, settings or declared
-- schemas: requests compile a tenant's rules once per revision (see src/context.rs).
ALTER TABLE tenants ADD COLUMN config_revision BIGINT NOT NULL DEFAULT 0;
