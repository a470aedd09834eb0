-- The lowercased email values of each user, so that `emails eq` / `emails.value eq` (Entra's
-- matching on work email) is an index lookup rather than a scan of the stored JSON. Kept in step
-- with scim_users by the code that writes users.
CREATE TABLE scim_user_emails (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    value_key TEXT NOT NULL,
    PRIMARY KEY (tenant_id, value_key, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES scim_users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX scim_user_emails_user ON scim_user_emails (tenant_id, user_id);
CREATE INDEX scim_users_updated ON scim_users (tenant_id, updated_at);
CREATE INDEX scim_groups_updated ON scim_groups (tenant_id, updated_at);
