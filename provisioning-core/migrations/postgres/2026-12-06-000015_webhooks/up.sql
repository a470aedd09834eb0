-- Webhook endpoints: a second sink of the outbox (beside Kafka or standalone's in-process
-- delivery). `tenant_id` NULL: every tenant's events. The signing secret (Standard Webhooks,
-- `whsec_…`) has to be kept to sign; it is shown once when the endpoint is made. An endpoint
-- receives the events after `start_seq` (the last outbox event when it was made).
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT REFERENCES tenants (id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_types TEXT,
    description TEXT,
    created_at BIGINT NOT NULL,
    start_seq BIGINT NOT NULL
);
-- One delivery per endpoint and event, in outbox order; `resource_key` (tenant/resource id)
-- keeps one resource's events in order: a later one waits while an earlier one is pending.
CREATE TABLE webhook_deliveries (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    resource_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    first_attempt_at BIGINT,
    last_attempt_at BIGINT,
    last_status INTEGER,
    last_error TEXT,
    delivered_at BIGINT,
    PRIMARY KEY (endpoint_id, seq)
);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (endpoint_id, state, seq);
-- The oldest pending delivery of each resource: what is sent next.
CREATE INDEX webhook_deliveries_resource ON webhook_deliveries (endpoint_id, resource_key, state, seq);
CREATE INDEX webhook_deliveries_seq ON webhook_deliveries (seq);
-- When the dispatcher queued an outbox event for the webhook endpoints (NULL: not yet; with no
-- endpoint, nothing is queued and the column stays NULL).
ALTER TABLE outbox ADD COLUMN webhooks_queued_at BIGINT;
CREATE INDEX outbox_webhooks_unqueued ON outbox (seq) WHERE webhooks_queued_at IS NULL;
