//! Directory lag: how long after the SCIM 201 a created user (group) can be read from
//! directory-store's HTTP API (`GET {D}/v1/tenants/{tenant}/accounts/{id}`, `…/teams/{id}`), with the
//! service credential in `DIRECTORY_TOKEN` when it is set.
//!
//! A sampled create starts a poller that asks every `--poll-ms` (2 ms) until the record is
//! there (200; 404 until then). At most `--max-inflight` pollers run at once (a sample is
//! skipped while they all run), so the probing itself does not become the load.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::Target;
use crate::args::Args;
use crate::rng::{unique_hex, unique_user_name};
use crate::scenarios::{group_body, post, run_workers, timed, user_body};
use crate::stats::{Budget, Stats, round3, show_first_error};

#[derive(Default)]
struct Results {
    accounts: Stats,
    teams: Stats,
    skipped: u64,
    timeouts: u64,
    failures: u64,
}

pub struct LagProbe {
    client: reqwest::Client,
    directory: String,
    tenant: String,
    every: u64,
    poll: Duration,
    timeout: Duration,
    /// Pollers running, per kind (accounts, teams): one kind never starves the other.
    account_slots: Arc<tokio::sync::Semaphore>,
    team_slots: Arc<tokio::sync::Semaphore>,
    results: Arc<Mutex<Results>>,
    pollers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl LagProbe {
    /// From `--directory-url`, `--tenant`, `--lag-sample` (1 in N creates; 0 = off),
    /// `--max-inflight` (4 per kind), `--poll-ms` (2), `--lag-timeout-seconds` (60).
    pub fn from_args(args: &Args) -> anyhow::Result<Option<Self>> {
        let Some(directory) = args.get("directory-url") else { return Ok(None) };
        let every = args.u64_or("lag-sample", 50)?;
        if every == 0 {
            return Ok(None);
        }
        Self::new(directory, args.require("tenant")?, every, args).map(Some)
    }

    fn new(directory: &str, tenant: &str, every: u64, args: &Args) -> anyhow::Result<Self> {
        let max_inflight = args.u64_or("max-inflight", 4)?.max(1) as usize;
        Ok(Self {
            client: reqwest::Client::builder()
                .default_headers(directory_credential()?)
                .no_proxy()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(max_inflight)
                .timeout(Duration::from_secs(10))
                .build()?,
            directory: directory.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            every: every.max(1),
            poll: Duration::from_secs_f64(args.f64_or("poll-ms", 2.0)? / 1000.0),
            timeout: Duration::from_secs_f64(args.f64_or("lag-timeout-seconds", 60.0)?),
            account_slots: Arc::new(tokio::sync::Semaphore::new(max_inflight)),
            team_slots: Arc::new(tokio::sync::Semaphore::new(max_inflight)),
            results: Arc::new(Mutex::new(Results::default())),
            pollers: Mutex::new(Vec::new()),
        })
    }

    /// Called after the `index`th create of `kind` ("accounts" or "teams") answered at `at`.
    pub fn sample(&self, kind: &'static str, index: u64, id: &str, at: Instant) {
        if !index.is_multiple_of(self.every) {
            return;
        }
        self.start(kind, id, at);
    }

    fn start(&self, kind: &'static str, id: &str, at: Instant) {
        let slots = if kind == "teams" { &self.team_slots } else { &self.account_slots };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if let Ok(mut r) = self.results.lock() {
                r.skipped += 1;
            }
            return;
        };
        let url = format!("{}/v1/tenants/{}/{kind}/{id}", self.directory, self.tenant);
        let (client, results, poll, timeout) = (self.client.clone(), self.results.clone(), self.poll, self.timeout);
        let handle = tokio::spawn(async move {
            let _permit = permit;
            let outcome = loop {
                match client.get(&url).send().await {
                    Ok(response) if response.status() == reqwest::StatusCode::OK => {
                        let _ = response.bytes().await;
                        break Ok(at.elapsed());
                    }
                    Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => {
                        let _ = response.bytes().await;
                    }
                    Ok(response) => {
                        let status = response.status();
                        let body = response.text().await.unwrap_or_default();
                        show_first_error(&format!("GET {url} → {status}"), &body);
                        break Err(false);
                    }
                    Err(e) => {
                        show_first_error(&format!("GET {url}"), &e.to_string());
                        break Err(false);
                    }
                }
                if at.elapsed() > timeout {
                    break Err(true);
                }
                tokio::time::sleep(poll).await;
            };
            if let Ok(mut r) = results.lock() {
                match outcome {
                    Ok(lag) if kind == "teams" => r.teams.record(lag, true),
                    Ok(lag) => r.accounts.record(lag, true),
                    Err(true) => r.timeouts += 1,
                    Err(false) => r.failures += 1,
                }
            }
        });
        if let Ok(mut pollers) = self.pollers.lock() {
            pollers.push(handle);
        }
    }

    /// Waits for the running pollers; `{"lag_accounts": {...}, "lag_teams": {...}, "lag": {...}}`.
    pub async fn finish(&self) -> Map<String, Value> {
        let handles = self.pollers.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        for handle in handles {
            let _ = handle.await;
        }
        let mut map = Map::new();
        if let Ok(r) = self.results.lock() {
            let part = |s: &Stats| {
                let h = &s.histogram;
                let q = |x: f64| if h.is_empty() { 0.0 } else { round3(h.value_at_quantile(x) as f64 / 1000.0) };
                json!({
                    "samples": s.requests,
                    "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99),
                    "max_ms": if h.is_empty() { 0.0 } else { round3(h.max() as f64 / 1000.0) },
                })
            };
            map.insert("lag_accounts".to_owned(), part(&r.accounts));
            map.insert("lag_teams".to_owned(), part(&r.teams));
            map.insert(
                "lag".to_owned(),
                json!({
                    "sample_every": self.every,
                    "poll_ms": self.poll.as_secs_f64() * 1000.0,
                    "skipped_busy": r.skipped,
                    "timeouts": r.timeouts,
                    "failures": r.failures,
                }),
            );
        }
        map
    }
}

/// `lag`: a create load (users, and a group every `--group-every` creates) during which 1 in
/// `--sample-every` user creates, and every group create, is followed to the directory.
pub async fn lag(target: &Target, args: &Args) -> anyhow::Result<Map<String, Value>> {
    let clients = args.u64_or("clients", 16)?;
    let seconds = args.f64_or("seconds", 10.0)?;
    let every = args.u64_or("sample-every", 10)?;
    let group_every = args.u64_or("group-every", 20)?;
    let probe = Arc::new(LagProbe::new(args.require("directory-url")?, args.require("tenant")?, every, args)?);
    let budget = Arc::new(Budget::new(Some(seconds), args.opt_u64("requests")?));
    let started = Instant::now();
    let per_worker = run_workers(clients, |_| {
        let (target, budget, probe) = (target.clone(), budget.clone(), probe.clone());
        async move {
            let client = target.client()?;
            let mut stats = Stats::new();
            while let Some(index) = budget.take() {
                let group = group_every > 0 && (index + 1).is_multiple_of(group_every);
                let (path, body, what) = if group {
                    ("/Groups", group_body(&format!("bench-lag-{}", unique_hex())), "POST /Groups")
                } else {
                    ("/Users", user_body(&unique_user_name()), "POST /Users")
                };
                let (latency, outcome) = timed(post(&target, &client, path, body)).await;
                let done = Instant::now();
                let ok = outcome.check(what);
                stats.record(latency, ok);
                if ok && let Some(id) = outcome.json()["id"].as_str() {
                    if group {
                        probe.start("teams", id, done);
                    } else {
                        probe.sample("accounts", index, id, done);
                    }
                }
            }
            Ok(stats)
        }
    })
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = Stats::new();
    for s in &per_worker {
        total.merge(s);
    }
    let mut report = total.report("lag", elapsed);
    report.insert("clients".to_owned(), json!(clients));
    report.extend(probe.finish().await);
    Ok(report)
}

/// `Authorization: Bearer $DIRECTORY_TOKEN` (the directory API's service credential), when set.
fn directory_credential() -> anyhow::Result<reqwest::header::HeaderMap> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(token) = std::env::var("DIRECTORY_TOKEN") {
        let mut value = reqwest::header::HeaderValue::try_from(format!("Bearer {token}"))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(headers)
}
