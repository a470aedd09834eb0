//! Client-side load balancing from the gateway to provisioning-core. One HTTP/2 connection through
//! a ClusterIP Service would pin each gateway to one core replica, so that replicas added by the
//! autoscaler got no traffic; instead `CORE_GRPC_URL` names a headless Service (or several URLs,
//! comma-separated), whose addresses are resolved again every `CORE_DISCOVERY_INTERVAL_MS`, and
//! requests are spread over the replicas that answer the gRPC health check as serving (tonic's
//! balanced channel: power of two choices over the least loaded).
//!
//! A replica leaves the set when its address leaves DNS or when its health check fails or says
//! NOT_SERVING, which provisioning-core says as soon as it is asked to stop, for
//! `SHUTDOWN_DRAIN_MS` before it stops serving: so a stopping replica gets no new request and
//! finishes those it has, and none is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// One URL of `CORE_GRPC_URL`: its scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

/// The URLs of `CORE_GRPC_URL` (comma-separated).
pub fn targets(urls: &str) -> anyhow::Result<Vec<Target>> {
    urls.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            let uri: http::Uri = url.parse().with_context(|| format!("CORE_GRPC_URL: {url:?} is not a URL"))?;
            let scheme = uri.scheme_str().unwrap_or("http").to_owned();
            anyhow::ensure!(scheme == "http" || scheme == "https", "CORE_GRPC_URL: {url:?} is not http:// or https://");
            let host = uri.host().context("CORE_GRPC_URL: a URL without a host")?.trim_matches(['[', ']']).to_owned();
            let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
            Ok(Target { scheme, host, port })
        })
        .collect()
}

/// Whether the URLs ask for balancing: several of them, or a name (a headless Service) rather
/// than one address.
pub fn balanced(targets: &[Target]) -> bool {
    targets.len() > 1 || targets.iter().any(|t| t.host.parse::<std::net::IpAddr>().is_err())
}

/// A channel over every serving replica of `targets`, kept current by a task on the runtime.
pub fn channel(
    targets: Vec<Target>,
    endpoint_of: impl Fn(&Target, SocketAddr) -> anyhow::Result<Endpoint> + Send + 'static,
    interval: Duration,
) -> anyhow::Result<Channel> {
    let runtime = tokio::runtime::Handle::try_current().context("balancing needs the Tokio runtime")?;
    // The settings are checked now, not at the first tick: TLS files for an http:// URL, say.
    for target in &targets {
        endpoint_of(target, SocketAddr::from(([127, 0, 0, 1], target.port)))?;
    }
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
    runtime.spawn(async move {
        let mut serving: BTreeSet<SocketAddr> = BTreeSet::new();
        // Each target's addresses as last resolved: a failed lookup (a DNS blip) keeps them.
        let mut resolved: Vec<Vec<SocketAddr>> = vec![Vec::new(); targets.len()];
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let mut found: BTreeMap<SocketAddr, Endpoint> = BTreeMap::new();
            for (target, known) in targets.iter().zip(resolved.iter_mut()) {
                match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
                    Ok(addresses) => *known = addresses.collect(),
                    Err(error) => {
                        tracing::warn!(host = %target.host, error = %error, "provisioning-core's address does not resolve; keeping the last ones");
                    }
                }
                for address in known.iter().copied() {
                    match endpoint_of(target, address) {
                        Ok(endpoint) => {
                            found.insert(address, endpoint);
                        }
                        Err(error) => tracing::error!(error = %error, %address, "a core endpoint cannot be made"),
                    }
                }
            }
            let mut now_serving = BTreeSet::new();
            for (address, endpoint) in &found {
                if is_serving(endpoint.clone(), interval).await {
                    now_serving.insert(*address);
                }
            }
            // None serving (every core down or draining at once): keep them all in the set, so that
            // requests fail at once with 503 instead of waiting for a replica that may not come.
            if now_serving.is_empty() {
                now_serving = found.keys().copied().collect();
            }
            for (address, endpoint) in &found {
                if now_serving.contains(address) && !serving.contains(address) {
                    tracing::info!(%address, "a provisioning-core replica joins the balanced set");
                    if changes.send(Change::Insert(*address, endpoint.clone())).await.is_err() {
                        return;
                    }
                }
            }
            for gone in serving.difference(&now_serving) {
                tracing::info!(address = %gone, "a provisioning-core replica leaves the balanced set");
                if changes.send(Change::Remove(*gone)).await.is_err() {
                    return;
                }
            }
            serving = now_serving;
        }
    });
    Ok(channel)
}

/// The replica's gRPC health says SERVING within `timeout`.
async fn is_serving(endpoint: Endpoint, timeout: Duration) -> bool {
    let check = async {
        let channel = endpoint.connect().await.ok()?;
        let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.ok()?;
        Some(answer.into_inner().status == ServingStatus::Serving as i32)
    };
    tokio::time::timeout(timeout.max(Duration::from_millis(500)), check).await.ok().flatten().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_and_balancing_is_chosen() {
        let one = targets("http://127.0.0.1:50051").unwrap();
        assert_eq!(one, [Target { scheme: "http".into(), host: "127.0.0.1".into(), port: 50051 }]);
        assert!(!balanced(&one), "one address: one connection, as before");
        let headless = targets("https://scim-core-headless.scim.svc:50051").unwrap();
        assert!(balanced(&headless));
        let two = targets("http://127.0.0.1:1, http://127.0.0.1:2").unwrap();
        assert_eq!(two.len(), 2);
        assert!(balanced(&two));
        assert_eq!(targets("https://core").unwrap()[0].port, 443);
        assert!(targets("not a url at all").is_err());
    }
}
