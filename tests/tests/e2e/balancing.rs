//! Client-side load balancing from the gateway to provisioning-core: with two core replicas the
//! gateway spreads its requests over both (not one pinned connection), and stopping one as
//! Kubernetes does (SIGTERM: it says NOT_SERVING for SHUTDOWN_DRAIN_MS, the gateway stops sending
//! to it, then it stops) loses no request of a load running meanwhile.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Cluster, ClusterOptions, eventually, required_env};

/// The CreateUser calls a core replica has answered, from its /metrics.
async fn creates_handled(admin_url: &str) -> f64 {
    let text = reqwest::get(format!("{admin_url}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| {
            line.starts_with("scimsvc_grpc_server_handled_total{") && line.contains("grpc_method=\"CreateUser\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_cores_share_the_load_and_stopping_one_loses_no_request() {
    let mut options = ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"));
    options.second_core = true;
    options.core_env = vec![
        ("SHUTDOWN_DRAIN_MS", "3000".to_owned()),
        // The load is the point here, not the tenant's rate limit.
        ("RATE_LIMIT_PER_SECOND", "100000".to_owned()),
        ("RATE_LIMIT_BURST", "100000".to_owned()),
    ];
    options.gateway_env = vec![("CORE_DISCOVERY_INTERVAL_MS", "200".to_owned())];
    let mut cluster = Cluster::start_with(options).await;
    let client = cluster.client.clone();
    let (first, second) = (cluster.admin.url.clone(), cluster.second_core_admin.clone().expect("a second core"));

    // Both replicas serve: the gateway balances instead of pinning one connection.
    let mut made = 0;
    eventually("both core replicas answering creates", || {
        made += 1;
        let (client, first, second, n) = (client.clone(), first.clone(), second.clone(), made);
        async move {
            for i in 0..10 {
                let body = json!({"userName": format!("warm-{n}-{i}@example.com")});
                assert_eq!(client.scim(Method::POST, "/Users", Some(body)).await.0, StatusCode::CREATED);
            }
            (creates_handled(&first).await > 0.0 && creates_handled(&second).await > 0.0).then_some(())
        }
    })
    .await;

    // A load of creates while the first replica is stopped.
    let until = Instant::now() + Duration::from_secs(7);
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                let mut n = 0;
                while Instant::now() < until {
                    n += 1;
                    let body = json!({"userName": format!("load-{worker}-{n}@example.com")});
                    let (status, answer) = client.scim(Method::POST, "/Users", Some(body)).await;
                    statuses.push((status, answer));
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped_at = Instant::now();
    cluster.process_ref("provisioning-core").sigterm();
    let mut answered = Vec::new();
    for worker in workers {
        answered.extend(worker.await.expect("a load worker"));
    }
    let failed: Vec<_> = answered.iter().filter(|(status, _)| *status != StatusCode::CREATED).collect();
    let shown: Vec<_> = failed.iter().take(5).collect();
    assert!(failed.is_empty(), "{} of {} requests failed, among them {shown:?}", failed.len(), answered.len());
    assert!(answered.len() > 20, "a load ran: {}", answered.len());
    let exit_deadline = Instant::now() + Duration::from_secs(20);
    while !cluster.process("provisioning-core").has_exited() {
        assert!(Instant::now() < exit_deadline, "the stopped replica did not exit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped_at.elapsed() >= Duration::from_secs(3), "it drained first");
    assert!(cluster.log("provisioning-core").contains("draining"), "the drain was logged");
    // The remaining replica goes on alone.
    let (status, _) = client.scim(Method::POST, "/Users", Some(json!({"userName": "after@example.com"}))).await;
    assert_eq!(status, StatusCode::CREATED);
}
