//! The outbox relay: reads unpublished events in commit order, hands them to a sink (Kafka in
//! production, the directory store in-process in standalone), and marks published only what
//! the sink acknowledged. A sink that is down delays events; they stay in the outbox until it
//! comes back. An event the sink refuses for good (larger than the broker accepts, say) is set
//! aside in the outbox with the reason, loudly, so that it cannot hold back every later event.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::store::Store;
use crate::store::outbox::{self, OutboxEvent};

/// What became of a batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delivery {
    /// The `seq` of each event the sink acknowledged.
    pub acknowledged: Vec<i64>,
    /// Events the sink will never accept, with the reason; retrying cannot help.
    pub rejected: Vec<(i64, String)>,
}

/// Where the relay delivers events.
pub trait EventSink: Send + Sync + 'static {
    /// Delivers `events` (in order). Events neither acknowledged nor rejected are retried.
    fn publish<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, Delivery>;
}

pub struct Relay {
    store: Store,
    sink: Arc<dyn EventSink>,
    wake: Arc<Notify>,
    batch_size: i64,
    idle_poll: Duration,
}

impl Relay {
    pub fn new(store: Store, sink: Arc<dyn EventSink>, wake: Arc<Notify>) -> Self {
        Self { store, sink, wake, batch_size: 256, idle_poll: Duration::from_secs(1) }
    }

    /// Publishes until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        loop {
            let pause = match self.publish_batch().await {
                Ok(Progress::Idle) => {
                    backoff = Duration::from_millis(100);
                    Some(self.idle_poll)
                }
                Ok(Progress::Published) => {
                    backoff = Duration::from_millis(100);
                    None
                }
                Ok(Progress::Stalled { pending, acknowledged }) => {
                    tracing::warn!(pending, acknowledged, "event sink did not acknowledge every event; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    Some(backoff)
                }
                Err(error) => {
                    tracing::error!(error = %error, "outbox relay failed to read or mark events");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    Some(backoff)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = &mut shutdown => break,
                    () = self.wake.notified() => {},
                    () = tokio::time::sleep(pause) => {},
                }
            } else if futures::FutureExt::now_or_never(&mut shutdown).is_some() {
                break;
            }
        }
        tracing::info!("outbox relay stopped");
    }

    async fn publish_batch(&self) -> anyhow::Result<Progress> {
        let store = self.store.clone();
        let limit = self.batch_size;
        let events = tokio::task::spawn_blocking(move || store.read(|conn| outbox::pending(conn, limit))).await??;
        if events.is_empty() {
            return Ok(Progress::Idle);
        }
        let Delivery { acknowledged, rejected } = self.sink.publish(&events).await;
        let marked = acknowledged.len() + rejected.len();
        for (seq, reason) in &rejected {
            tracing::error!(seq, reason = %reason, "the event sink refused an event for good; it is set aside in the outbox");
        }
        if marked > 0 {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || {
                store.write(|conn| {
                    outbox::mark_published(conn, &acknowledged)?;
                    for (seq, reason) in &rejected {
                        outbox::mark_failed(conn, *seq, reason)?;
                    }
                    Ok(())
                })
            })
            .await??;
        }
        if marked < events.len() {
            return Ok(Progress::Stalled { pending: events.len(), acknowledged: marked });
        }
        Ok(Progress::Published)
    }
}

enum Progress {
    Idle,
    Published,
    Stalled { pending: usize, acknowledged: usize },
}
