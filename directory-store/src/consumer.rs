//! The Kafka consumer: a consumer-group member that applies each message in a database
//! transaction which also stores the partition's next offset. Offsets are committed to Kafka
//! only after that transaction (never auto-committed), and a redelivered offset is recognised
//! from the database and skipped.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};

use crate::Directory;
use crate::apply::{self, Applied};
use crate::config::ConsumerConfig;

pub struct EventConsumer {
    consumer: StreamConsumer,
    directory: Directory,
}

impl EventConsumer {
    pub fn new(config: &ConsumerConfig, directory: Directory) -> anyhow::Result<Self> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.bootstrap_servers)
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("client.id", "directory-store");
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        let consumer: StreamConsumer = client.create().context("creating the Kafka consumer")?;
        consumer.subscribe(&[config.topic.as_str()]).context("subscribing to the change topic")?;
        Ok(Self { consumer, directory })
    }

    /// Consumes until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let message = tokio::select! {
                () = &mut shutdown => break,
                message = self.consumer.recv() => message,
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(error = %error, "Kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let topic = message.topic().to_owned();
            let (partition, offset) = (message.partition(), message.offset());
            let payload = message.payload().unwrap_or_default().to_vec();
            // A database failure must not skip the message: retry it until it applies.
            let mut backoff = Duration::from_millis(100);
            loop {
                let directory = self.directory.clone();
                let (topic, payload) = (topic.clone(), payload.clone());
                let outcome = tokio::task::spawn_blocking(move || {
                    directory.write(|conn| apply::apply_message(conn, &topic, partition, offset, &payload))
                })
                .await;
                match outcome {
                    Ok(Ok(applied)) => {
                        if applied != Applied::Applied {
                            tracing::debug!(?applied, partition, offset, "message skipped");
                        }
                        break;
                    }
                    Ok(Err(error)) => {
                        tracing::error!(error = %error, partition, offset, "applying an event failed; retrying")
                    }
                    Err(error) => tracing::error!(error = %error, partition, offset, "apply task failed; retrying"),
                }
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(backoff) => {},
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            if let Err(error) = self.consumer.commit_message(&message, CommitMode::Async) {
                // The offset is in the database already; Kafka's copy only saves a replay.
                tracing::warn!(error = %error, "committing the offset to Kafka failed");
            }
        }
        tracing::info!("event consumer stopped");
    }
}
