DROP TABLE account_tombstones;
ALTER TABLE tenants DROP COLUMN group_permissions;
ALTER TABLE tenants DROP COLUMN mapping;
ALTER TABLE scim_groups DROP COLUMN record_version;
ALTER TABLE scim_groups DROP COLUMN record;
DROP INDEX scim_users_account;
ALTER TABLE scim_users DROP COLUMN record_version;
ALTER TABLE scim_users DROP COLUMN record;
ALTER TABLE scim_users DROP COLUMN account_id;
