//! Webhooks: a second sink of the outbox, in production and in standalone alike (it reads the
//! outbox table, not Kafka). The dispatcher — on one replica at a time (`crate::leadership`) —
//! queues every new outbox event for each endpoint that wants it (its tenant or every tenant,
//! its event types or all), then sends each endpoint's deliveries as CloudEvents structured JSON
//! (`crate::events_json`), signed per the Standard Webhooks specification (`webhook-id` = the
//! event's id, stable across retries; `webhook-timestamp`; `webhook-signature` = `v1,<HMAC-SHA256>`
//! with the endpoint's `whsec_…` secret, by the `standardwebhooks` crate).
//!
//! Order: one resource's events reach an endpoint in outbox order — a delivery waits while an
//! earlier one of the same resource is pending — and other resources' go on meanwhile. A 2xx
//! is delivered; anything else (or no answer within `WEBHOOK_TIMEOUT_MS`) is retried with
//! exponential backoff and ±20% jitter; a delivery still failing `WEBHOOK_DEAD_AFTER_SECONDS`
//! after it was queued is dead: kept, listed, replayable through the admin API, and no longer
//! holding back its resource's later events. Delivery is at least once: a receiver keeps the
//! `webhook-id`s (or versions) it has applied.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;

use crate::config::WebhookSettings;
use crate::leadership::Leadership;
use crate::store::Store;
use crate::store::outbox::OutboxEvent;
use crate::store::webhooks::{self, Delivery, Endpoint, Outcome};
use platform::db::now_micros;

/// The advisory lock key of the webhook dispatcher.
const DISPATCHER_LOCK: i64 = 0x5C1D_0B0D;
/// Events queued per transaction, and deliveries looked at per endpoint and round.
const QUEUE_BATCH: i64 = 500;
const DELIVERY_BATCH: i64 = 200;
/// Requests in flight to one endpoint at once (each of another resource).
const IN_FLIGHT: usize = 16;

/// A new endpoint secret: 32 random bytes, `whsec_<base64>` as Standard Webhooks has it.
pub fn new_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The delay before attempt `attempts + 1`: `base · 2^(attempts-1)`, at most `max`, ±20%.
pub fn backoff(settings: &WebhookSettings, attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let delay = settings.retry_base.saturating_mul(2u32.saturating_pow(exponent)).min(settings.retry_max);
    delay.mul_f64(rand::rng().random_range(0.8..=1.2))
}

/// Whether an address is one a webhook may reach without `WEBHOOK_ALLOW_PRIVATE_TARGETS`: not
/// loopback, private, link-local (169.254.169.254 is the cloud metadata service), shared
/// (100.64/10), unspecified, broadcast, documentation, benchmarking or multicast; IPv6 alike
/// (unique local fc00::/7, link-local fe80::/10, IPv4-mapped checked as IPv4).
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Refuses a URL whose host is a non-public address or `localhost` (names are checked again
/// after resolution, by [`PublicOnly`]).
pub fn target_allowed(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let refused = || {
        Err("the endpoint is not a public address (set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow private ones)"
            .to_owned())
    };
    let host = parsed.host_str().ok_or_else(|| "the URL has no host".to_owned())?.to_ascii_lowercase();
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(ip) if !is_public(ip) => refused(),
        Ok(_) => Ok(()),
        Err(_) if host == "localhost" || host.ends_with(".localhost") => refused(),
        Err(_) => Ok(()),
    }
}

/// A resolver that keeps only public addresses: a name that resolves to a private one (by
/// design or by DNS rebinding) is refused at connection time, whatever it resolved to when the
/// endpoint was made.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if addresses.is_empty() {
                return Err(format!("{host} resolves to no public address (WEBHOOK_ALLOW_PRIVATE_TARGETS)").into());
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

pub struct Dispatcher {
    store: Store,
    settings: WebhookSettings,
    http: reqwest::Client,
    wake: Arc<Notify>,
    leadership: Leadership,
}

impl Dispatcher {
    pub fn new(store: Store, settings: WebhookSettings, wake: Arc<Notify>) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder();
        if !settings.allow_private_targets {
            http = http.dns_resolver(Arc::new(PublicOnly));
        }
        let http = http
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("scim-provisioning-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let leadership = Leadership::new(store.clone(), DISPATCHER_LOCK, "webhook dispatcher");
        Ok(Self { store, settings, http, wake, leadership })
    }

    /// Dispatches until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let pause = if self.leadership.is_leader().await {
                // A round may wait on slow endpoints; shutdown does not (an attempt not yet
                // recorded is sent again, with the same webhook-id).
                let round = tokio::select! {
                    () = &mut shutdown => break,
                    round = self.round() => round,
                };
                match round {
                    Ok(true) => Duration::ZERO,
                    Ok(false) => Duration::from_millis(250),
                    Err(error) => {
                        tracing::error!(error = %error, "webhook dispatcher failed to read or record deliveries");
                        Duration::from_secs(2)
                    }
                }
            } else {
                Duration::from_secs(2)
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {},
                () = tokio::time::sleep(pause) => {},
            }
        }
        self.leadership.release();
        tracing::info!("webhook dispatcher stopped");
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, crate::error::CoreError> + Send + 'static,
    ) -> anyhow::Result<T> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || work(&store)).await??)
    }

    /// Queues new events and sends what is due; true when there may be more to do at once.
    async fn round(&self) -> anyhow::Result<bool> {
        let queued = self.blocking(|store| store.write(|conn| webhooks::queue(conn, QUEUE_BATCH))).await?;
        let endpoints = self.blocking(|store| store.read(webhooks::list)).await?;
        let mut sent = 0;
        for endpoint in endpoints {
            sent += self.deliver(&endpoint).await?;
        }
        Ok(queued as i64 == QUEUE_BATCH || sent > 0)
    }

    /// Sends an endpoint's due deliveries, each resource's in order; returns how many were tried.
    /// Sends an endpoint's due deliveries: the oldest pending one of each resource (a later
    /// one waits for the next round, so each resource's stay in order), up to
    /// [`IN_FLIGHT`] at once; records the outcomes in one transaction. Returns how many were
    /// tried.
    async fn deliver(&self, endpoint: &Endpoint) -> anyhow::Result<usize> {
        use futures::StreamExt;
        let id = endpoint.id.clone();
        let now = now_micros();
        let due = self.blocking(move |store| store.read(|conn| webhooks::due(conn, &id, now, DELIVERY_BATCH))).await?;
        let tried = due.len();
        let outcomes: Vec<(i64, Outcome)> = futures::stream::iter(due)
            .map(|(delivery, event)| async move {
                let outcome = self.attempt(endpoint, &delivery, event.as_ref()).await;
                if let Outcome::Failed { status, error, dead, .. } = &outcome {
                    tracing::warn!(webhook.id = %endpoint.id, seq = delivery.seq, ?status, error = %error, dead = *dead, "webhook delivery failed");
                }
                (delivery.seq, outcome)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        if !outcomes.is_empty() {
            let endpoint_id = endpoint.id.clone();
            self.blocking(move |store| {
                store.write(|conn| {
                    for (seq, outcome) in &outcomes {
                        webhooks::record(conn, &endpoint_id, *seq, outcome)?;
                    }
                    Ok(())
                })
            })
            .await?;
        }
        Ok(tried)
    }

    async fn attempt(&self, endpoint: &Endpoint, delivery: &Delivery, event: Option<&OutboxEvent>) -> Outcome {
        let failed = |status: Option<i32>, error: String| {
            let now = now_micros();
            let dead_after = i64::try_from(self.settings.dead_after.as_micros()).unwrap_or(i64::MAX);
            let wait = i64::try_from(backoff(&self.settings, delivery.attempts + 1).as_micros()).unwrap_or(i64::MAX);
            Outcome::Failed {
                status,
                error,
                next_attempt_at: now.saturating_add(wait),
                // The clock starts at the first attempt, not while it waited behind its resource.
                dead: now - delivery.first_attempt_at.unwrap_or(now) >= dead_after,
            }
        };
        let Some(event) = event else {
            // Past the outbox's retention: nothing left to send.
            return Outcome::Failed {
                status: None,
                error: "the event is no longer in the outbox (retention)".to_owned(),
                next_attempt_at: now_micros(),
                dead: true,
            };
        };
        let body = match crate::events_json::of_outbox(event, &self.settings.naming) {
            Ok(value) => value.to_string(),
            Err(error) => {
                return Outcome::Failed {
                    status: None,
                    error: error.to_string(),
                    next_attempt_at: now_micros(),
                    dead: true,
                };
            }
        };
        let signer = match standardwebhooks::Webhook::new(&endpoint.secret) {
            Ok(signer) => signer,
            Err(error) => return failed(None, format!("the endpoint's secret is not usable: {error}")),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = match signer.sign(&delivery.event_id, timestamp, body.as_bytes()) {
            Ok(signature) => signature,
            Err(error) => return failed(None, format!("signing failed: {error}")),
        };
        if !self.settings.allow_private_targets
            && let Err(refused) = target_allowed(&endpoint.url)
        {
            return failed(None, refused);
        }
        let sent = self
            .http
            .post(&endpoint.url)
            .header("content-type", "application/cloudevents+json")
            .header(standardwebhooks::HEADER_WEBHOOK_ID, &delivery.event_id)
            .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                Outcome::Delivered { status: i32::from(response.status().as_u16()) }
            }
            Ok(response) => {
                let status = response.status();
                failed(Some(i32::from(status.as_u16())), format!("the endpoint answered {status}"))
            }
            // Without the URL: it may carry a credential in its path.
            Err(error) => failed(None, format!("no answer: {}", error.without_url())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn only_public_addresses_are_targets() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "140.82.112.3", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for refused in [
            "http://127.0.0.1:8080/h",
            "https://169.254.169.254/latest/meta-data",
            "http://[::1]/h",
            "http://localhost/h",
            "http://api.LOCALHOST/h",
            "http://10.0.0.5/h",
        ] {
            assert!(target_allowed(refused).is_err(), "{refused}");
        }
        for allowed in ["https://hooks.example.com/scim", "https://8.8.8.8/h", "https://[2606:4700::1111]/h"] {
            assert!(target_allowed(allowed).is_ok(), "{allowed}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused_at_connection() {
        use reqwest::dns::Resolve as _;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let resolved = PublicOnly.resolve(name).await;
        assert!(resolved.is_err(), "localhost resolves to loopback only");
        let client = reqwest::Client::builder().dns_resolver(Arc::new(PublicOnly)).build().unwrap();
        let error = client.get("http://localhost:9/").send().await.expect_err("refused before connecting");
        let chain = format!("{:?}", anyhow::Error::from(error));
        assert!(chain.contains("no public address"), "{chain}");
    }

    fn settings() -> WebhookSettings {
        WebhookSettings {
            naming: crate::events_json::Naming { type_prefix: "com.example.scim".into(), source: "/s".into() },
            timeout: Duration::from_secs(1),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            dead_after: Duration::from_secs(3600),
            allow_private_targets: false,
        }
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_maximum() {
        let settings = settings();
        for (attempts, nominal) in [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (40, 60.0)] {
            let delay = backoff(&settings, attempts).as_secs_f64();
            assert!(delay >= nominal * 0.8 - 1e-9 && delay <= nominal * 1.2 + 1e-9, "attempt {attempts}: {delay}");
        }
        let spread: HashSet<u128> = (0..20).map(|_| backoff(&settings, 3).as_micros()).collect();
        assert!(spread.len() > 1, "jitter spreads retries");
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        let signer = standardwebhooks::Webhook::new(&secret).expect("a usable secret");
        let signature = signer.sign("evt-1", 1_700_000_000, b"{}").expect("a signature");
        assert!(signature.starts_with("v1,"), "{signature}");
        assert_ne!(new_secret(), secret);
    }
}
