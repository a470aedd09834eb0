-- Operator identities: named admin keys with a scope, stored as SHA-256 only (like SCIM tokens),
-- and the audit log of every admin action (who, what, when, result).
CREATE TABLE operator_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE TABLE admin_audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    operator TEXT NOT NULL,
    key_id TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    tenant_id TEXT,
    status INTEGER NOT NULL
);
CREATE INDEX admin_audit_operator ON admin_audit (operator, id);
CREATE INDEX admin_audit_tenant ON admin_audit (tenant_id, id);
