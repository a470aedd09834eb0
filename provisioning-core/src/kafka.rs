//! The Kafka sink: an idempotent producer (acks=all, enable.idempotence) that publishes each
//! event as a CloudEvents 1.0 binary-mode message keyed by tenant + resource id, its payload the
//! protobuf `ChangeEvent` (`KAFKA_EVENT_FORMAT=protobuf`, the default) or the JSON contract's
//! `data` (`json`).

use std::time::Duration;

use anyhow::Context;
use futures::future::{BoxFuture, join_all};
use prost::Message as _;
use proto::cloudevents as ce;
use rdkafka::ClientConfig;

/// The producer's `message.max.bytes`: 1 MiB, as the topic's `max.message.bytes`.
pub const MESSAGE_MAX_BYTES: usize = 1024 * 1024;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::config::KafkaConfig;
use crate::relay::{Delivery, EventSink};
use crate::store::outbox::OutboxEvent;

pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    naming: scim_events::json::Naming,
    format: scim_events::Format,
    batch_timeout: Duration,
}

impl KafkaSink {
    pub fn new(config: &KafkaConfig) -> anyhow::Result<Self> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", config.message_timeout_ms.to_string())
            .set("compression.type", "lz4")
            // Matches the topic's max.message.bytes (deploy/base/kafka.yaml); every event is
            // at most write::publish::MAX_EVENT_BYTES, well below it.
            .set("message.max.bytes", MESSAGE_MAX_BYTES.to_string())
            .set("client.id", "provisioning-core");
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        let producer: FutureProducer = client.create().context("creating the Kafka producer")?;
        let batch_timeout = Duration::from_millis(u64::from(config.message_timeout_ms)) + Duration::from_secs(10);
        Ok(Self {
            producer,
            topic: config.topic.clone(),
            naming: config.naming.clone(),
            format: config.format,
            batch_timeout,
        })
    }

    /// The CloudEvents headers, and the publish span's W3C trace context (`traceparent`).
    fn headers(&self, event: &OutboxEvent, trace: &std::collections::HashMap<String, String>) -> OwnedHeaders {
        let time = chrono::DateTime::from_timestamp_micros(event.created_at)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let subject = event.subject();
        let source = format!("{}/tenants/{}", self.naming.source, event.tenant_id);
        let event_type = format!("{}.{}", self.naming.type_prefix, event.event_type);
        let dataschema = match self.format {
            scim_events::Format::Protobuf => scim_events::json::PROTOBUF_DATASCHEMA.to_owned(),
            scim_events::Format::Json => scim_events::json::dataschema(),
        };
        [
            (ce::HEADER_SPEC_VERSION, ce::SPEC_VERSION),
            (ce::HEADER_ID, event.event_id.as_str()),
            (ce::HEADER_SOURCE, source.as_str()),
            (ce::HEADER_TYPE, event_type.as_str()),
            (ce::HEADER_SUBJECT, subject.as_str()),
            (ce::HEADER_TIME, time.as_str()),
            (ce::HEADER_CONTENT_TYPE, self.format.content_type()),
            (ce::HEADER_DATASCHEMA, dataschema.as_str()),
            (ce::HEADER_TENANT, event.tenant_id.as_str()),
        ]
        .into_iter()
        .chain(trace.iter().map(|(key, value)| (key.as_str(), value.as_str())))
        .fold(OwnedHeaders::new(), |headers, (key, value)| headers.insert(Header { key, value: Some(value) }))
    }
}

impl KafkaSink {
    /// The message's payload: the outbox's protobuf as it is, or its JSON. A payload that does
    /// not decode can never be written as JSON: the reason is returned, and it is set aside.
    fn payload<'e>(&self, event: &'e OutboxEvent) -> Result<std::borrow::Cow<'e, [u8]>, String> {
        match self.format {
            scim_events::Format::Protobuf => Ok(event.payload.as_slice().into()),
            scim_events::Format::Json => {
                let decoded = proto::ChangeEvent::decode(event.payload.as_slice())
                    .map_err(|e| format!("outbox event {} does not decode: {e}", event.seq))?;
                serde_json::to_vec(&scim_events::json::data(&decoded))
                    .map(Into::into)
                    .map_err(|e| format!("outbox event {} does not encode as JSON: {e}", event.seq))
            }
        }
    }
}

/// Errors that retrying the same message can never fix.
fn is_permanent(error: &KafkaError) -> bool {
    matches!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidRecord))
}

impl EventSink for KafkaSink {
    fn publish<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let mut delivery = Delivery::default();
            // Enqueued synchronously and in order; the idempotent producer keeps that order per
            // partition. When the local queue is full, the rest waits for the next batch.
            let mut deliveries = Vec::with_capacity(events.len());
            for event in events {
                let payload = match self.payload(event) {
                    Ok(payload) => payload,
                    Err(reason) => {
                        delivery.rejected.push((event.seq, reason));
                        continue;
                    }
                };
                let key = event.key();
                let span = event.publish_span("kafka", &self.topic);
                let _entered = span.enter();
                let trace = platform::telemetry::context_of(&span);
                let record = FutureRecord::to(&self.topic)
                    .key(key.as_bytes())
                    .payload(payload.as_ref())
                    .headers(self.headers(event, &trace));
                match self.producer.send_result(record) {
                    Ok(pending) => deliveries.push(async move { (event.seq, pending.await) }),
                    Err((error, _)) if is_permanent(&error) => delivery.rejected.push((event.seq, error.to_string())),
                    Err((error, _)) => {
                        tracing::warn!(error = %error, "Kafka producer queue refused an event");
                        break;
                    }
                }
            }
            // Deliveries end by message.timeout.ms; the bound here only guards against one that
            // never resolves, which would stall the relay.
            let Ok(outcomes) = tokio::time::timeout(self.batch_timeout, join_all(deliveries)).await else {
                tracing::warn!("Kafka deliveries did not complete in time; the batch will be retried");
                return Delivery { acknowledged: Vec::new(), rejected: delivery.rejected };
            };
            for (seq, outcome) in outcomes {
                match outcome {
                    Ok(Ok(_)) => delivery.acknowledged.push(seq),
                    Ok(Err((error, _))) if is_permanent(&error) => delivery.rejected.push((seq, error.to_string())),
                    Ok(Err((error, _))) => tracing::warn!(error = %error, seq, "Kafka did not acknowledge an event"),
                    Err(_) => tracing::warn!(seq, "Kafka producer dropped an event before delivery"),
                }
            }
            delivery
        })
    }
}
