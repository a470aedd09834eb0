//! `scim-bench`: the load client of the SCIM benchmark (`bench/run.py` drives it).
//!
//! Each subcommand drives one scenario against a SCIM tenant URL and prints ONE JSON object on
//! stdout: `{"scenario", "requests", "errors", "seconds", "rps", "p50_ms", "p99_ms", …}`.
//! Progress and the first error body go to stderr. See bench/README.md.
//!
//! ```text
//! scim-bench create      --url U --token T [--clients 16] [--seconds 10 | --requests R]
//! scim-bench get         --url U --token T --ids-file F [--clients 16] [--seconds 10] [--seed 1]
//! scim-bench filter      --url U --token T --ids-file F …
//! scim-bench patch-user  --url U --token T --ids-file F …
//! scim-bench seed        --url U --token T --users N [--groups G --memberships M] [--clients 16]
//!                        [--out F] [--max-seconds S]
//!                        [--directory-url D --tenant T --lag-sample 50]
//! scim-bench member-add  --url U --token T --group-size K [--requests 200] [--seconds S]
//!                        [--clients 1] [--seed-file F] [--setup-clients 16]
//! scim-bench lag         --url U --token T --directory-url D --tenant T [--clients 16]
//!                        [--seconds 10] [--sample-every 10] [--group-every 20]
//! ```
//!
//! Common knobs: `--threads N` (tokio worker threads; 1 = a current-thread runtime, the
//! default, so that the client takes as little CPU as it can from the services it measures),
//! `--timeout-seconds` (per request, 60).

mod args;
mod lag;
mod rng;
mod scenarios;
mod stats;

use std::time::Duration;

use anyhow::Context;

use crate::args::Args;

pub const SCIM_JSON: &str = "application/scim+json";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Where the load goes and with which credential.
#[derive(Debug, Clone)]
pub struct Target {
    /// The tenant URL, without a trailing slash (e.g. `http://127.0.0.1:8080/scim/v2`).
    pub url: String,
    pub token: Option<String>,
    pub timeout: Duration,
}

impl Target {
    fn from_args(args: &Args) -> anyhow::Result<Self> {
        let token = args.get("token").map(str::to_owned).filter(|t| !t.is_empty());
        Ok(Self {
            url: args.require("url")?.trim_end_matches('/').to_owned(),
            token,
            timeout: Duration::from_secs_f64(args.f64_or("timeout-seconds", 60.0)?),
        })
    }

    /// One HTTP/1.1 keep-alive client: each simulated IdP connection owns one.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(4)
            .tcp_nodelay(true)
            .timeout(self.timeout)
            .build()
            .context("building the HTTP client")
    }

    pub fn request(&self, client: &reqwest::Client, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = client.request(method, format!("{}{path}", self.url)).header("Accept", SCIM_JSON);
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        builder
    }
}

fn usage() -> &'static str {
    "usage: scim-bench <create|get|filter|patch-user|seed|member-add|lag> --url U [--token T] [options]\n\
     (see bench/README.md)"
}

fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        anyhow::bail!("{}", usage());
    };
    if command == "--help" || command == "-h" {
        println!("{}", usage());
        return Ok(());
    }
    let args = Args::parse(argv)?;
    let threads = args.u64_or("threads", 1)?;
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(usize::try_from(threads)?).enable_all().build()?
    };
    let report = runtime.block_on(async {
        let target = Target::from_args(&args)?;
        match command.as_str() {
            "create" => scenarios::create(&target, &args).await,
            "get" | "filter" | "patch-user" => scenarios::read_or_patch(&command, &target, &args).await,
            "seed" => scenarios::seed(&target, &args).await,
            "member-add" => scenarios::member_add(&target, &args).await,
            "lag" => lag::lag(&target, &args).await,
            other => anyhow::bail!("unknown subcommand {other:?}\n{}", usage()),
        }
    })?;
    args.check_all_used()?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
