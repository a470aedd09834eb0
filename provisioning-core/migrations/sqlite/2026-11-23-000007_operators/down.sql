ALTER TABLE provisioning_log DROP COLUMN token_id;
DROP INDEX tenant_tokens_tenant;
ALTER TABLE tenant_tokens DROP COLUMN rotation_of;
ALTER TABLE tenant_tokens DROP COLUMN last_used_at;
ALTER TABLE tenant_tokens DROP COLUMN expires_at;
ALTER TABLE tenant_tokens DROP COLUMN prefix;
ALTER TABLE tenants DROP COLUMN settings;
ALTER TABLE tenants DROP COLUMN region;
