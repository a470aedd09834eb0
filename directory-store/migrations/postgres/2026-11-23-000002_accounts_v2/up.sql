-- Accounts are keyed by the product's account id, which SCIM can link to an account the product
-- made by hand (origin 'manual') or to a soft-deleted one it restores: scim_user_id names the SCIM
-- User that provisions the row now (NULL for a manual account not linked yet), and versions are
-- compared only with events of that user. email_key (the email, trimmed and lowercased) serves
-- the lookups by email. A soft-deleted account keeps purge_after; a purged one keeps only its
-- tombstone (ids, version) with its personal data cleared.
ALTER TABLE accounts ADD COLUMN scim_user_id TEXT;
ALTER TABLE accounts ADD COLUMN email_key TEXT;
ALTER TABLE accounts ADD COLUMN permissions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE accounts ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}';
ALTER TABLE accounts ADD COLUMN origin TEXT NOT NULL DEFAULT 'scim';
ALTER TABLE accounts ADD COLUMN purge_after BIGINT;
ALTER TABLE accounts ADD COLUMN purged BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN created_at BIGINT;
UPDATE accounts SET scim_user_id = id, email_key = lower(trim(email)), created_at = updated_at;
DROP INDEX accounts_email;
CREATE INDEX accounts_email_key ON accounts (tenant_id, email_key);

ALTER TABLE teams ADD COLUMN permissions TEXT NOT NULL DEFAULT '[]';
