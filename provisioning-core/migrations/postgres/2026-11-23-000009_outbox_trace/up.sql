-- The W3C trace context (traceparent) of the request that wrote the event: the relay's publish
-- span continues that trace, and passes it on in the Kafka message's headers.
ALTER TABLE outbox ADD COLUMN trace_context TEXT;
