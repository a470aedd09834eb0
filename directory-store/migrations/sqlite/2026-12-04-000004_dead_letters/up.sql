-- Messages the directory could not apply, set aside so that one poison event does not stop its
-- partition: where it was read (a Kafka topic, partition and offset; in standalone, topic
-- 'in-process', partition 0 and the outbox seq), what could be decoded of it (empty text and
-- version 0 when the payload is not a change event), why, and the payload as received.
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    recorded_at BIGINT NOT NULL
);
-- A tenant's dead letters newest first; a purge clears its user's payloads.
CREATE INDEX dead_letters_tenant ON dead_letters (tenant_id, id);
CREATE INDEX dead_letters_resource ON dead_letters (tenant_id, resource_id);
