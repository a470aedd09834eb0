//! The load scenarios: create, get, filter, patch-user, seed (the initial sync), member-add.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::args::Args;
use crate::lag::LagProbe;
use crate::rng::{Rng, unique_hex, unique_user_name};
use crate::stats::{Budget, Stats, round3, show_first_error};
use crate::{GROUP_SCHEMA, PATCH_SCHEMA, SCIM_JSON, Target, USER_SCHEMA};

/// What one request gave: its status and body, or the transport error.
pub enum Outcome {
    Status(u16, String),
    Failed(String),
}

impl Outcome {
    /// Counts as an error unless 2xx; shows the first error on stderr.
    pub fn check(&self, what: &str) -> bool {
        match self {
            Outcome::Status(status, _) if (200..300).contains(status) => true,
            Outcome::Status(status, body) => {
                show_first_error(&format!("{what} → {status}"), body);
                false
            }
            Outcome::Failed(error) => {
                show_first_error(what, error);
                false
            }
        }
    }

    pub fn json(&self) -> Value {
        match self {
            Outcome::Status(_, body) => serde_json::from_str(body).unwrap_or(Value::Null),
            Outcome::Failed(_) => Value::Null,
        }
    }
}

/// Sends a request and reads the whole body; the latency covers both.
pub async fn timed(builder: reqwest::RequestBuilder) -> (Duration, Outcome) {
    let start = Instant::now();
    let outcome = match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.text().await {
                Ok(body) => Outcome::Status(status, body),
                Err(e) => Outcome::Failed(format!("reading the body: {e}")),
            }
        }
        Err(e) => Outcome::Failed(format!("{e:?}")),
    };
    (start.elapsed(), outcome)
}

pub fn user_body(user_name: &str) -> String {
    let local = user_name.split('@').next().unwrap_or(user_name);
    let (given, family) = (format!("Given{}", &local[local.len().saturating_sub(6)..]), "Bench".to_owned());
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "displayName": format!("{given} {family}"),
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
    .to_string()
}

pub fn group_body(display_name: &str) -> String {
    json!({"schemas": [GROUP_SCHEMA], "displayName": display_name}).to_string()
}

pub fn add_members_body(ids: &[&str]) -> String {
    let values: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "members", "value": values}]}).to_string()
}

pub fn post(target: &Target, client: &reqwest::Client, path: &str, body: String) -> reqwest::RequestBuilder {
    target.request(client, Method::POST, path).header("Content-Type", SCIM_JSON).body(body)
}

pub fn patch(target: &Target, client: &reqwest::Client, path: &str, body: String) -> reqwest::RequestBuilder {
    target.request(client, Method::PATCH, path).header("Content-Type", SCIM_JSON).body(body)
}

/// Runs `clients` workers to completion and gathers what each returns.
pub async fn run_workers<T, F, Fut>(clients: u64, worker: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let handles: Vec<_> = (0..clients.max(1) as usize).map(|w| tokio::spawn(worker(w))).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.context("a worker panicked")??);
    }
    Ok(out)
}

fn merged(stats: impl IntoIterator<Item = Stats>) -> Stats {
    let mut total = Stats::new();
    for s in stats {
        total.merge(&s);
    }
    total
}

/// A user as the seed file stores it.
#[derive(Debug, Clone)]
pub struct SeedUser {
    pub id: String,
    pub user_name: String,
}

pub fn load_seed_file(path: &str) -> anyhow::Result<(Vec<SeedUser>, Vec<String>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let value: Value = serde_json::from_str(&text).with_context(|| format!("parsing {path}"))?;
    let users = value["users"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .filter_map(|u| {
                    Some(SeedUser { id: u["id"].as_str()?.to_owned(), user_name: u["userName"].as_str()?.to_owned() })
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let groups = value["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|id| id.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Ok((users, groups))
}

fn budget_from(args: &Args, default_seconds: f64) -> anyhow::Result<Budget> {
    let requests = args.opt_u64("requests")?;
    let seconds = args.opt_f64("seconds")?.or(if requests.is_some() { None } else { Some(default_seconds) });
    Ok(Budget::new(seconds, requests))
}

/// `create`: POST /Users with unique userNames for S seconds from N clients.
pub async fn create(target: &Target, args: &Args) -> anyhow::Result<Map<String, Value>> {
    let clients = args.u64_or("clients", 16)?;
    let budget = Arc::new(budget_from(args, 10.0)?);
    let started = Instant::now();
    let per_worker = run_workers(clients, |_| {
        let (target, budget) = (target.clone(), budget.clone());
        async move {
            let client = target.client()?;
            let mut stats = Stats::new();
            while budget.take().is_some() {
                let (latency, outcome) = timed(post(&target, &client, "/Users", user_body(&unique_user_name()))).await;
                stats.record(latency, outcome.check("POST /Users"));
            }
            Ok(stats)
        }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut report = merged(per_worker).report("create", seconds);
    report.insert("clients".to_owned(), json!(clients));
    Ok(report)
}

/// `get`, `filter`, `patch-user`: on random users of a seed file.
pub async fn read_or_patch(scenario: &str, target: &Target, args: &Args) -> anyhow::Result<Map<String, Value>> {
    let clients = args.u64_or("clients", 16)?;
    let seed = args.u64_or("seed", 1)?;
    let (users, _) = load_seed_file(args.require("ids-file")?)?;
    anyhow::ensure!(!users.is_empty(), "the ids file has no users");
    let users = Arc::new(users);
    let budget = Arc::new(budget_from(args, 10.0)?);
    let started = Instant::now();
    let kind = scenario.to_owned();
    let per_worker = run_workers(clients, |w| {
        let (target, budget, users, kind) = (target.clone(), budget.clone(), users.clone(), kind.clone());
        async move {
            let client = target.client()?;
            let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(w as u64));
            let mut stats = Stats::new();
            while budget.take().is_some() {
                let user = &users[rng.below(users.len())];
                match kind.as_str() {
                    "get" => {
                        let path = format!("/Users/{}", user.id);
                        let (latency, outcome) = timed(target.request(&client, Method::GET, &path)).await;
                        stats.record(latency, outcome.check("GET /Users/{id}"));
                    }
                    "filter" => {
                        let filter = format!("userName eq \"{}\"", user.user_name);
                        let path = format!("/Users?filter={}", percent_encode(&filter));
                        let (latency, outcome) = timed(target.request(&client, Method::GET, &path)).await;
                        let mut ok = outcome.check("GET /Users?filter=userName eq");
                        if ok && outcome.json()["totalResults"].as_u64().unwrap_or(0) != 1 {
                            if let Outcome::Status(_, body) = &outcome {
                                show_first_error("filter found no single user", body);
                            }
                            ok = false;
                        }
                        stats.record(latency, ok);
                    }
                    _ => {
                        let body = json!({
                            "schemas": [PATCH_SCHEMA],
                            "Operations": [{"op": "replace", "path": "title", "value": format!("t{:x}", rng.next_u64())}]
                        })
                        .to_string();
                        let path = format!("/Users/{}", user.id);
                        let (latency, outcome) = timed(patch(&target, &client, &path, body)).await;
                        stats.record(latency, outcome.check("PATCH /Users/{id}"));
                    }
                }
            }
            Ok(stats)
        }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut report = merged(per_worker).report(scenario, seconds);
    report.insert("clients".to_owned(), json!(clients));
    report.insert("users".to_owned(), json!(users.len()));
    Ok(report)
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Creates `count` users from `clients` workers; returns them in creation order (failed
/// creates are left out) with the stats. Stops early when `deadline` passes.
pub async fn create_users(
    target: &Target,
    count: u64,
    clients: u64,
    deadline: Option<Instant>,
    probe: Option<Arc<LagProbe>>,
) -> anyhow::Result<(Vec<SeedUser>, Stats, f64)> {
    let seconds = deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64());
    let budget = Arc::new(Budget::new(seconds, Some(count)));
    let started = Instant::now();
    let per_worker = run_workers(clients, |_| {
        let (target, budget, probe) = (target.clone(), budget.clone(), probe.clone());
        async move {
            let client = target.client()?;
            let mut stats = Stats::new();
            let mut created = Vec::new();
            while let Some(index) = budget.take() {
                let user_name = unique_user_name();
                let (latency, outcome) = timed(post(&target, &client, "/Users", user_body(&user_name))).await;
                let done = Instant::now();
                let ok = outcome.check("POST /Users");
                stats.record(latency, ok);
                if ok && let Some(id) = outcome.json()["id"].as_str() {
                    if let Some(probe) = &probe {
                        probe.sample("accounts", index, id, done);
                    }
                    created.push((index, SeedUser { id: id.to_owned(), user_name }));
                }
            }
            Ok((stats, created))
        }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let (users, stats) = in_order(per_worker);
    Ok((users, stats, seconds))
}

/// What the workers created, in the order of their indexes, and their merged latencies.
fn in_order<T>(per_worker: Vec<(Stats, Vec<(u64, T)>)>) -> (Vec<T>, Stats) {
    let mut stats = Stats::new();
    let mut created = Vec::new();
    for (worker_stats, worker_created) in per_worker {
        stats.merge(&worker_stats);
        created.extend(worker_created);
    }
    created.sort_by_key(|(index, _)| *index);
    (created.into_iter().map(|(_, item)| item).collect(), stats)
}

async fn create_groups(
    target: &Target,
    count: u64,
    clients: u64,
    deadline: Option<Instant>,
    probe: Option<Arc<LagProbe>>,
) -> anyhow::Result<(Vec<String>, Stats, f64)> {
    let seconds = deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64());
    let budget = Arc::new(Budget::new(seconds, Some(count)));
    let started = Instant::now();
    let per_worker = run_workers(clients, |_| {
        let (target, budget, probe) = (target.clone(), budget.clone(), probe.clone());
        async move {
            let client = target.client()?;
            let mut stats = Stats::new();
            let mut created = Vec::new();
            while let Some(index) = budget.take() {
                let name = format!("bench-group-{}", unique_hex());
                let (latency, outcome) = timed(post(&target, &client, "/Groups", group_body(&name))).await;
                let done = Instant::now();
                let ok = outcome.check("POST /Groups");
                stats.record(latency, ok);
                if ok && let Some(id) = outcome.json()["id"].as_str() {
                    if let Some(probe) = &probe {
                        probe.sample("teams", index, id, done);
                    }
                    created.push((index, id.to_owned()));
                }
            }
            Ok((stats, created))
        }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let (groups, stats) = in_order(per_worker);
    Ok((groups, stats, seconds))
}

/// PATCH add batches (group id, member ids), `clients` at a time, in the given order.
async fn add_member_batches(
    target: &Target,
    batches: Arc<Vec<(String, Vec<String>)>>,
    clients: u64,
    deadline: Option<Instant>,
) -> anyhow::Result<(u64, Stats, f64)> {
    let seconds = deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64());
    let budget = Arc::new(Budget::new(seconds, Some(batches.len() as u64)));
    let started = Instant::now();
    let per_worker = run_workers(clients, |_| {
        let (target, budget, batches) = (target.clone(), budget.clone(), batches.clone());
        async move {
            let client = target.client()?;
            let mut stats = Stats::new();
            let mut added = 0u64;
            while let Some(index) = budget.take() {
                let Some((group, members)) = batches.get(index as usize) else { break };
                let ids: Vec<&str> = members.iter().map(String::as_str).collect();
                let path = format!("/Groups/{group}");
                let (latency, outcome) = timed(patch(&target, &client, &path, add_members_body(&ids))).await;
                let ok = outcome.check("PATCH /Groups/{id} add members");
                stats.record(latency, ok);
                if ok {
                    added += members.len() as u64;
                }
            }
            Ok((stats, added))
        }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut stats = Stats::new();
    let mut added = 0;
    for (s, a) in per_worker {
        stats.merge(&s);
        added += a;
    }
    Ok((added, stats, seconds))
}

fn phase(stats: &Stats, seconds: f64, wanted: u64, done: u64) -> Value {
    let mut map = stats.summary(seconds);
    map.insert("wanted".to_owned(), json!(wanted));
    map.insert("done".to_owned(), json!(done));
    Value::Object(map)
}

/// `seed`: users, then groups, then memberships added by PATCH in batches of 100 (as Entra
/// does), as fast as `--clients` allow. Writes the ids to `--out`. The initial-sync scenario.
pub async fn seed(target: &Target, args: &Args) -> anyhow::Result<Map<String, Value>> {
    let users_wanted = args.u64_or("users", 1000)?;
    let groups_wanted = args.u64_or("groups", 0)?;
    let memberships_wanted = args.u64_or("memberships", 0)?;
    let batch = args.u64_or("batch", 100)?.max(1) as usize;
    let clients = args.u64_or("clients", 16)?;
    let out = args.get("out").map(str::to_owned);
    let deadline = args.opt_f64("max-seconds")?.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let probe = LagProbe::from_args(args)?.map(Arc::new);
    let started = Instant::now();

    let (users, user_stats, user_seconds) =
        create_users(target, users_wanted, clients, deadline, probe.clone()).await?;
    let (groups, group_stats, group_seconds) =
        create_groups(target, groups_wanted, clients, deadline, probe.clone()).await?;

    // Group g gets the users [g*k, g*k + k) (wrapping), k = memberships / groups: each user is
    // in about memberships / users groups. The batches go round-robin over the groups, so that
    // concurrent requests hit different groups.
    let mut per_group: Vec<Vec<Vec<String>>> = Vec::new();
    if !groups.is_empty() && !users.is_empty() && memberships_wanted > 0 {
        let g_count = groups.len() as u64;
        let base = memberships_wanted / g_count;
        let extra = memberships_wanted % g_count;
        let mut offset = 0usize;
        for g in 0..g_count {
            let size = (base + u64::from(g < extra)).min(users.len() as u64) as usize;
            let members: Vec<String> = (0..size).map(|j| users[(offset + j) % users.len()].id.clone()).collect();
            offset = (offset + size) % users.len();
            per_group.push(members.chunks(batch).map(<[String]>::to_vec).collect());
        }
    }
    let mut batches = Vec::new();
    let rounds = per_group.iter().map(Vec::len).max().unwrap_or(0);
    for round in 0..rounds {
        for (g, chunks) in per_group.iter().enumerate() {
            if let Some(chunk) = chunks.get(round) {
                batches.push((groups[g].clone(), chunk.clone()));
            }
        }
    }
    let batch_count = batches.len() as u64;
    let (memberships, member_stats, member_seconds) =
        add_member_batches(target, Arc::new(batches), clients, deadline).await?;
    let seconds = started.elapsed().as_secs_f64();

    if let Some(path) = &out {
        let file = json!({
            "users": users.iter().map(|u| json!({"id": u.id, "userName": u.user_name})).collect::<Vec<_>>(),
            "groups": groups,
        });
        std::fs::write(path, serde_json::to_vec(&file)?).with_context(|| format!("writing {path}"))?;
    }

    let total = merged([user_stats.clone(), group_stats.clone(), member_stats.clone()]);
    let complete =
        users.len() as u64 == users_wanted && groups.len() as u64 == groups_wanted && memberships == memberships_wanted;
    let mut report = total.report("seed", seconds);
    report.insert("clients".to_owned(), json!(clients));
    report.insert("complete".to_owned(), json!(complete));
    report.insert(
        "phases".to_owned(),
        json!({
            "users": phase(&user_stats, user_seconds, users_wanted, users.len() as u64),
            "groups": phase(&group_stats, group_seconds, groups_wanted, groups.len() as u64),
            "memberships": {
                "requests": member_stats.requests,
                "batches_wanted": batch_count,
                "wanted": memberships_wanted,
                "done": memberships,
                "seconds": round3(member_seconds),
                "memberships_per_second": if member_seconds > 0.0 { round3(memberships as f64 / member_seconds) } else { 0.0 },
                "summary": Value::Object(member_stats.summary(member_seconds)),
            },
        }),
    );
    if let Some(probe) = probe {
        report.extend(probe.finish().await);
    }
    Ok(report)
}

/// `member-add`: builds a group of K members (not measured), then measures PATCH add of one
/// new member per request.
pub async fn member_add(target: &Target, args: &Args) -> anyhow::Result<Map<String, Value>> {
    let group_size = args.u64_or("group-size", 10)?;
    let requests = args.u64_or("requests", 200)?;
    let seconds = args.opt_f64("seconds")?;
    let clients = args.u64_or("clients", 1)?;
    let setup_clients = args.u64_or("setup-clients", 16)?;
    let setup_batch = args.u64_or("setup-batch", 1000)?.max(1) as usize;
    let max_setup = args.opt_f64("max-setup-seconds")?;
    let setup_started = Instant::now();
    let setup_deadline = max_setup.map(|s| setup_started + Duration::from_secs_f64(s));

    let mut users = match args.get("seed-file") {
        Some(path) => load_seed_file(path)?.0,
        None => Vec::new(),
    };
    let needed = (group_size + requests) as usize;
    users.truncate(needed);
    if users.len() < needed {
        let missing = (needed - users.len()) as u64;
        eprintln!("scim-bench: member-add: creating {missing} users (not measured)");
        let (created, stats, _) = create_users(target, missing, setup_clients, setup_deadline, None).await?;
        anyhow::ensure!(
            created.len() as u64 == missing,
            "member-add setup: {} of {missing} users created ({} errors, or --max-setup-seconds passed)",
            created.len(),
            stats.errors
        );
        users.extend(created);
    }
    let client = target.client()?;
    let (_, outcome) =
        timed(post(target, &client, "/Groups", group_body(&format!("bench-member-add-{}", unique_hex())))).await;
    anyhow::ensure!(outcome.check("POST /Groups"), "member-add setup: creating the group failed");
    let group = outcome.json()["id"].as_str().map(str::to_owned).context("the created group has no id")?;
    let members: Vec<&str> = users[..group_size as usize].iter().map(|u| u.id.as_str()).collect();
    let path = format!("/Groups/{group}");
    for chunk in members.chunks(setup_batch) {
        let (_, outcome) = timed(patch(target, &client, &path, add_members_body(chunk))).await;
        anyhow::ensure!(outcome.check("PATCH /Groups add (setup)"), "member-add setup: adding members failed");
        if setup_deadline.is_some_and(|d| Instant::now() > d) {
            anyhow::bail!("member-add setup: --max-setup-seconds passed while building the group");
        }
    }
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    eprintln!("scim-bench: member-add: group of {group_size} ready in {setup_seconds:.1} s");

    let fresh: Arc<Vec<String>> = Arc::new(users[group_size as usize..].iter().map(|u| u.id.clone()).collect());
    let budget = Arc::new(Budget::new(seconds, Some(fresh.len() as u64)));
    let path = Arc::new(path);
    let started = Instant::now();
    let per_worker = run_workers(clients, |_| {
        let (target, budget, fresh, path) = (target.clone(), budget.clone(), fresh.clone(), path.clone());
        async move {
            let client = target.client()?;
            let mut stats = Stats::new();
            while let Some(index) = budget.take() {
                let Some(id) = fresh.get(index as usize) else { break };
                let (latency, outcome) = timed(patch(&target, &client, &path, add_members_body(&[id]))).await;
                stats.record(latency, outcome.check("PATCH /Groups/{id} add one member"));
            }
            Ok(stats)
        }
    })
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut report = merged(per_worker).report("member-add", elapsed);
    report.insert("group_size".to_owned(), json!(group_size));
    report.insert("clients".to_owned(), json!(clients));
    report.insert("setup_seconds".to_owned(), json!(round3(setup_seconds)));
    report.insert("group_id".to_owned(), json!(group));
    Ok(report)
}
