DROP INDEX outbox_webhooks_unqueued;
ALTER TABLE outbox DROP COLUMN webhooks_queued_at;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
