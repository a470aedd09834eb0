//! The in-process event sink: the outbox relay hands events straight to the directory store,
//! each applied in its own transaction (the same code the Kafka consumer runs).

use futures::future::BoxFuture;
use prost::Message;
use provisioning_core::relay::{Delivery, EventSink};
use provisioning_core::store::outbox::OutboxEvent;

use directory_store::Directory;
use directory_store::apply;

pub struct DirectorySink {
    directory: Directory,
}

impl DirectorySink {
    pub fn new(directory: Directory) -> Self {
        Self { directory }
    }
}

impl EventSink for DirectorySink {
    fn publish<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, Delivery> {
        let directory = self.directory.clone();
        // Each event's span continues the trace of the request that wrote it, as the Kafka
        // relay's and consumer's do.
        let batch: Vec<(i64, Vec<u8>, tracing::Span)> = events
            .iter()
            .map(|e| (e.seq, e.payload.clone(), e.publish_span("in-process", "directory-store")))
            .collect();
        Box::pin(async move {
            let applied = tokio::task::spawn_blocking(move || {
                let mut acknowledged = Vec::with_capacity(batch.len());
                let mut rejected = Vec::new();
                for (seq, payload, span) in batch {
                    let _entered = span.enter();
                    let event = match proto::ChangeEvent::decode(payload.as_slice()) {
                        Ok(event) => event,
                        Err(error) => {
                            rejected.push((seq, format!("the payload is not a change event: {error}")));
                            continue;
                        }
                    };
                    match directory.write(|conn| apply::apply_event(conn, &event)) {
                        Ok(_) => acknowledged.push(seq),
                        Err(error) => {
                            // Stop here: later events wait so that order holds.
                            tracing::error!(error = %error, seq, "directory could not apply an event");
                            break;
                        }
                    }
                }
                Delivery { acknowledged, rejected }
            })
            .await;
            applied.unwrap_or_default()
        })
    }
}
