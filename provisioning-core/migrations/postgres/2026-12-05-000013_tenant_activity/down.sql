ALTER TABLE provisioning_log DROP COLUMN user_agent;
DROP TABLE tenant_activity;
