DROP INDEX outbox_feed_tenant;
DROP INDEX outbox_feed;
ALTER TABLE outbox DROP COLUMN txid;
