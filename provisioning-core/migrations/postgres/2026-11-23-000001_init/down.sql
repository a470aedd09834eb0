DROP TABLE outbox;
DROP TABLE group_members;
DROP TABLE scim_groups;
DROP TABLE scim_users;
DROP TABLE tenant_tokens;
DROP TABLE tenants;
