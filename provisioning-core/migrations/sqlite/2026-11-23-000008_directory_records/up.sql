-- Mapped directory records. account_id is the product's account a SCIM user provisions (its own
-- id, or an account it was linked to); record is the last published record (JSON), to tell
-- consumers what changed; record_version numbers a resource's events (a permission change
-- publishes a new record without changing the SCIM resource or its ETag).
ALTER TABLE scim_users ADD COLUMN account_id TEXT;
UPDATE scim_users SET account_id = id;
ALTER TABLE scim_users ADD COLUMN record TEXT;
ALTER TABLE scim_users ADD COLUMN record_version BIGINT NOT NULL DEFAULT 0;
UPDATE scim_users SET record_version = version;
CREATE UNIQUE INDEX scim_users_account ON scim_users (tenant_id, account_id);
ALTER TABLE scim_groups ADD COLUMN record TEXT;
ALTER TABLE scim_groups ADD COLUMN record_version BIGINT NOT NULL DEFAULT 0;
UPDATE scim_groups SET record_version = version;

-- Per-tenant mapping rules (JSON; NULL = the defaults) and team permissions.
ALTER TABLE tenants ADD COLUMN mapping TEXT;
ALTER TABLE tenants ADD COLUMN group_permissions TEXT;

-- Soft-deleted accounts, until purge_after: re-creating the userName restores the account.
CREATE TABLE account_tombstones (
    tenant_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    scim_user_id TEXT NOT NULL,
    external_id TEXT,
    record_version BIGINT NOT NULL,
    deleted_at BIGINT NOT NULL,
    purge_after BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);
CREATE INDEX account_tombstones_user_name ON account_tombstones (tenant_id, user_name_key);
CREATE INDEX account_tombstones_purge ON account_tombstones (purge_after);
