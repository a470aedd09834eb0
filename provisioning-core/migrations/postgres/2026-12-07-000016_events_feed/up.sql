-- The events API pages the outbox in the order its rows became visible, not in `seq` order:
-- a transaction that took a lower seq may commit after one that took a higher seq. `txid` is
-- the inserting transaction's id; the API serves only rows whose transaction is older than
-- every transaction still running (pg_snapshot_xmin), ordered by (txid, seq), so no row can
-- appear later before a position already served. Rows written before this migration get 0:
-- all committed, ordered by seq. (A constant default first: no table rewrite.)
ALTER TABLE outbox ADD COLUMN txid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX outbox_feed ON outbox (txid, seq);
CREATE INDEX outbox_feed_tenant ON outbox (tenant_id, txid, seq);
