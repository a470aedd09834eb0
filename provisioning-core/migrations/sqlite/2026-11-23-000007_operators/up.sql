-- Operators: a tenant's region and settings (JSON: rate limit, later mappings and lifecycle
-- policy); tokens with a visible prefix, an expiry, when they were last used, and the token a
-- rotation replaces. The provisioning log says which token made a request (rotations).
-- A region of '' is the deployment's own (tenants made before regions existed).
ALTER TABLE tenants ADD COLUMN region TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tenant_tokens ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE tenant_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tenant_tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE tenant_tokens ADD COLUMN rotation_of TEXT;
CREATE INDEX tenant_tokens_tenant ON tenant_tokens (tenant_id, created_at);
ALTER TABLE provisioning_log ADD COLUMN token_id TEXT;
