//! The Kafka side: a message's CloudEvents attributes and payload ([`Received`]), and a
//! consumer context that starts every assigned partition at the offset the consumer's own store
//! holds ([`StartAtStoredOffsets`]), at the beginning of the partition when it holds none.

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::message::Headers;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::offsets::Position;
use crate::{Attributes, ChangeEvent, DecodeError};

/// The CloudEvents Kafka binding's header names.
pub use proto::cloudevents as headers;

/// The value of header `name`, as text.
pub fn header(message: &impl rdkafka::Message, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The attributes decoding needs, from a message's headers.
pub fn attributes(message: &impl rdkafka::Message) -> Attributes {
    Attributes {
        id: header(message, headers::HEADER_ID),
        event_type: header(message, headers::HEADER_TYPE),
        time: header(message, headers::HEADER_TIME),
        content_type: header(message, headers::HEADER_CONTENT_TYPE),
        dataschema: header(message, headers::HEADER_DATASCHEMA),
    }
}

/// A message copied out of the consumer's buffer (to apply it in a blocking pool, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub attributes: Attributes,
    pub payload: Vec<u8>,
}

impl Received {
    pub fn of(message: &impl rdkafka::Message) -> Self {
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            attributes: attributes(message),
            payload: message.payload().unwrap_or_default().to_vec(),
        }
    }

    /// Its change event (see [`crate::decode`]).
    pub fn decode(&self) -> Result<ChangeEvent, DecodeError> {
        crate::decode(&self.attributes, &self.payload)
    }

    pub fn position(&self) -> Position<'_> {
        Position { topic: &self.topic, partition: self.partition, offset: self.offset }
    }
}

/// What [`StartAtStoredOffsets`] asks of the consumer: its stored offsets (read outside any
/// transaction of its own, when partitions are assigned), and optionally librdkafka's statistics.
pub trait StoredOffsets: Send + Sync + 'static {
    /// The stored next offset per partition of `topic`.
    fn stored_offsets(&self, topic: &str) -> Result<Vec<(i32, i64)>, String>;

    /// librdkafka's statistics, every `statistics.interval.ms` (lag, broker state).
    fn statistics(&self, _statistics: rdkafka::Statistics) {}
}

/// A consumer context that assigns partitions at the stored offsets of `topic`.
pub struct StartAtStoredOffsets<S> {
    pub store: S,
    pub topic: String,
}

impl<S: StoredOffsets> StartAtStoredOffsets<S> {
    pub fn new(store: S, topic: impl Into<String>) -> Self {
        Self { store, topic: topic.into() }
    }
}

/// Sets each partition of `partitions` to start at its stored next offset, or at the beginning
/// when none is stored for it (a new or rebuilt consumer replays the topic).
pub fn start_at(partitions: &mut TopicPartitionList, topic: &str, stored: &[(i32, i64)]) {
    let assigned: Vec<(String, i32)> =
        partitions.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
    for (assigned_topic, partition) in assigned {
        let offset = stored
            .iter()
            .find(|(p, _)| *p == partition && assigned_topic == topic)
            .map_or(Offset::Beginning, |(_, next)| Offset::Offset(*next));
        if let Err(error) = partitions.set_partition_offset(&assigned_topic, partition, offset) {
            tracing::error!(error = %error, partition, "setting the start offset failed");
        }
    }
}

impl<S: StoredOffsets> ClientContext for StartAtStoredOffsets<S> {
    fn stats(&self, statistics: rdkafka::Statistics) {
        self.store.statistics(statistics);
    }
}

/// Either rebalance protocol: eager (assign the whole new assignment, unassign all) or
/// cooperative (`partition.assignment.strategy=cooperative-sticky`: add and remove only the
/// partitions named).
impl<S: StoredOffsets> ConsumerContext for StartAtStoredOffsets<S> {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, partitions: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let stored = self.store.stored_offsets(&self.topic).unwrap_or_else(|error| {
                    // Without the stored offsets, start from the beginning: offsets consumed
                    // before are recognised in the transaction and skipped when they come again.
                    tracing::error!(error = %error, "reading stored offsets failed; replaying from the beginning");
                    Vec::new()
                });
                start_at(partitions, &self.topic, &stored);
                tracing::info!(partitions = partitions.count(), cooperative, "partitions assigned");
                let assigned =
                    if cooperative { consumer.incremental_assign(partitions) } else { consumer.assign(partitions) };
                if let Err(error) = assigned {
                    tracing::error!(error = %error, "assigning partitions failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = partitions.count(), cooperative, "partitions revoked");
                let unassigned =
                    if cooperative { consumer.incremental_unassign(partitions) } else { consumer.unassign() };
                if let Err(error) = unassigned {
                    tracing::error!(error = %error, "unassigning partitions failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                if let Err(error) = consumer.unassign() {
                    tracing::error!(error = %error, "unassigning partitions failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_start_where_the_store_says_or_at_the_beginning() {
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition("scim.changes", 0);
        partitions.add_partition("scim.changes", 1);
        partitions.add_partition("other", 0);
        start_at(&mut partitions, "scim.changes", &[(0, 42)]);
        let offset = |topic: &str, partition| partitions.find_partition(topic, partition).map(|e| e.offset());
        assert_eq!(offset("scim.changes", 0), Some(Offset::Offset(42)));
        assert_eq!(offset("scim.changes", 1), Some(Offset::Beginning));
        assert_eq!(offset("other", 0), Some(Offset::Beginning), "another topic's stored offsets do not apply");
    }
}
