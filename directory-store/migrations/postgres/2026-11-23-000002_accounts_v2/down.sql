ALTER TABLE teams DROP COLUMN permissions;

DROP INDEX accounts_email_key;
CREATE INDEX accounts_email ON accounts (tenant_id, email);
ALTER TABLE accounts DROP COLUMN created_at;
ALTER TABLE accounts DROP COLUMN purged;
ALTER TABLE accounts DROP COLUMN purge_after;
ALTER TABLE accounts DROP COLUMN origin;
ALTER TABLE accounts DROP COLUMN custom_fields;
ALTER TABLE accounts DROP COLUMN permissions;
ALTER TABLE accounts DROP COLUMN email_key;
ALTER TABLE accounts DROP COLUMN scim_user_id;
