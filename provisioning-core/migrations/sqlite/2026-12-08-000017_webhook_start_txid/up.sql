-- A webhook endpoint receives the events written after it was made. On PostgreSQL a transaction
-- that took a lower outbox seq than the last one visible may still be running, and commits
-- later: `start_txid` is the oldest transaction that could still write to the outbox when the
-- endpoint was made (the events feed's bound), and events of it or later transactions are sent
-- too. 0 (SQLite, one writer; endpoints made before this migration): the seq alone decides.
ALTER TABLE webhook_endpoints ADD COLUMN start_txid BIGINT NOT NULL DEFAULT 0;
