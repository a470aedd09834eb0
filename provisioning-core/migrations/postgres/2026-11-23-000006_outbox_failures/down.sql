ALTER TABLE outbox DROP COLUMN failure; ALTER TABLE outbox DROP COLUMN failed_at;
