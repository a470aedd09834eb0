-- Accounts by email come in id order: with id in the index, the lookup that every SCIM create
-- makes (linking) reads only the accounts with that email. Without it SQLite's planner walked
-- the primary key (tenant_id, id) to avoid a sort, reading every account of the tenant.
DROP INDEX accounts_email_key;
CREATE INDEX accounts_email_key ON accounts (tenant_id, email_key, id);
