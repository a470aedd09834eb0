-- Sessions of the customer's admin on the self-serve provisioning portal: short-lived,
-- one tenant each, revocable; the secret is stored only as its SHA-256, like SCIM tokens.
CREATE TABLE portal_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    secret_sha256 TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX portal_sessions_tenant ON portal_sessions (tenant_id, created_at);
