ALTER TABLE tenants DROP COLUMN config_revision;
