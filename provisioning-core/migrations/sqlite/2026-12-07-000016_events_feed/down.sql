DROP INDEX outbox_feed_tenant;
ALTER TABLE outbox DROP COLUMN txid;
