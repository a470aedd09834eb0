-- Service credentials of the directory API (HTTP and gRPC): a product service's bearer token,
-- stored as its SHA-256 only (a hash read from here is not a credential). `tenant_id` NULL:
-- every tenant. `scope` 'read', or 'write' (reads too, and manual accounts). `internal`: the one
-- provisioning-core presents, kept equal to DIRECTORY_INTERNAL_TOKEN at every start.
CREATE TABLE service_credentials (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    tenant_id TEXT,
    scope TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    internal BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
-- The listing's lookups by each of an account's keys, in id order for the cursor.
CREATE INDEX accounts_external_id ON accounts (tenant_id, external_id, id);
CREATE INDEX accounts_user_name ON accounts (tenant_id, user_name, id);
CREATE INDEX accounts_scim_user_id ON accounts (tenant_id, scim_user_id);
CREATE INDEX teams_external_id ON teams (tenant_id, external_id, id);
