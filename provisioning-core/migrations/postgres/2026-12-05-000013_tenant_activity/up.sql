-- What the portal and the admin API show of a tenant's connection: its first and last SCIM
-- request, the IdP's User-Agent, and the last request that failed; written with each
-- provisioning-log batch. And the User-Agent of every logged request.
CREATE TABLE tenant_activity (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    first_request_at BIGINT NOT NULL,
    last_request_at BIGINT NOT NULL,
    last_user_agent TEXT,
    last_error_at BIGINT,
    last_error TEXT
);
ALTER TABLE provisioning_log ADD COLUMN user_agent TEXT;
