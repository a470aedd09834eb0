-- A webhook endpoint receives the events written after it was made. On PostgreSQL a transaction
-- that took a lower outbox seq than the last one visible may still be running, and commits
-- later: `start_running` lists (JSON) the ids of the transactions of this database running when
-- the endpoint was made, whose events it also receives. Any transaction that starts later takes
-- a seq above `start_seq`. '[]' (SQLite, one writer; endpoints made before): the seq decides.
ALTER TABLE webhook_endpoints ADD COLUMN start_running TEXT NOT NULL DEFAULT '[]';
