-- The events API pages the outbox by (txid, seq). SQLite has one writer at a time, so rows
-- become visible in seq order: txid stays 0 and seq orders them.
ALTER TABLE outbox ADD COLUMN txid BIGINT NOT NULL DEFAULT 0;
CREATE INDEX outbox_feed_tenant ON outbox (tenant_id, txid, seq);
