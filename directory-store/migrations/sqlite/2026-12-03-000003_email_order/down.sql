DROP INDEX accounts_email_key;
CREATE INDEX accounts_email_key ON accounts (tenant_id, email_key);
