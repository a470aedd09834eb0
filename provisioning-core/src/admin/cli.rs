//! `admin …`: the operators' command line over the admin API (a subcommand of
//! `provisioning-core` and of `standalone`). It reads `ADMIN_URL` (default
//! `http://127.0.0.1:8081`) and `ADMIN_TOKEN`, sends one request, and prints the JSON answer;
//! an error answer is printed to stderr and exits non-zero.

use anyhow::{Context, bail};
use platform::config::Source;
use reqwest::Method;
use serde_json::{Value, json};

pub const USAGE: &str = "usage: admin <command>  (ADMIN_URL, default http://127.0.0.1:8081; ADMIN_TOKEN; ADMIN_CA_FILE for an https:// ADMIN_URL of a private CA)
  tenants list
  tenants show <slug>
  tenants create <slug> [--display-name <name>] [--region <region>]
  tenants disable <slug>
  tenants enable <slug>
  tokens list <slug>
  tokens issue <slug> [--expires-in-days <n>]
  tokens revoke <slug> <token id>
  tokens rotate <slug> <token id> [--expires-in-days <n>]
  tokens complete-rotation <slug> <token id>
  tokens cancel-rotation <slug> <token id>
  settings show <slug>
  settings set-rate-limit <slug> <requests per second> <burst>
  settings set-lifecycle <slug> <soft|hard> [--tombstone-days <n>] [--link-by-email <true|false>]
  settings set-cadence <slug> <minutes>
  settings reset <slug>
  portal-sessions list <slug>
  portal-sessions issue <slug> [--ttl-minutes <n>] [--label <text>]
  portal-sessions revoke <slug> <session id>
  mapping show <slug>
  mapping set <slug> <mapping.json>
  mapping set-group-permissions <slug> <permissions.json>
  jobs list <slug>
  jobs show <slug> <job id>
  republish <slug>
  reconcile <slug>
  set-aside list [--tenant <slug>] [--limit <n>]
  set-aside retry [<seq>] [--tenant <slug>]
  set-aside discard <seq>
  webhooks list
  webhooks show <webhook id>
  webhooks create <url> [--tenant <slug>] [--event-types <type,type…>] [--description <text>]
  webhooks deliveries <webhook id> [--state <pending|delivered|dead>] [--limit <n>]
  webhooks replay <webhook id> [--since <RFC 3339>] [--state <delivered|dead>]
  webhooks delete <webhook id>
  events [--tenant <slug>] [--after <cursor>] [--limit <n>]
  operator-keys list
  operator-keys issue <name> <read_only|tenant_admin|full>
  operator-keys revoke <key id>
  audit [--operator <name>] [--tenant <slug>] [--before <id>] [--limit <n>]
  log <slug> [--since <RFC 3339>] [--until <RFC 3339>] [--status <404|4xx|error>] [--resource-id <id>] [--limit <n>]";

/// One admin API request, as the command line asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: Method,
    /// Below the admin URL, with the query string.
    pub path: String,
    pub body: Option<Value>,
}

/// Positional arguments and `--name value` options.
type Arguments<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);

/// Splits `--name value` options from positional arguments; unknown options are errors.
fn options<'a>(arguments: &'a [String], allowed: &[&str]) -> anyhow::Result<Arguments<'a>> {
    let mut positional = Vec::new();
    let mut named = Vec::new();
    let mut rest = arguments.iter();
    while let Some(argument) = rest.next() {
        match argument.strip_prefix("--") {
            Some(name) if allowed.contains(&name) => {
                let value = rest.next().with_context(|| format!("--{name} needs a value"))?;
                named.push((name, value.as_str()));
            }
            Some(name) => bail!("unknown option --{name}\n{USAGE}"),
            None => positional.push(argument.as_str()),
        }
    }
    Ok((positional, named))
}

fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn expiry(named: &[(&str, &str)]) -> anyhow::Result<Value> {
    match named.iter().find(|(name, _)| *name == "expires-in-days") {
        Some((_, days)) => {
            let days: u32 = days.parse().with_context(|| format!("--expires-in-days {days:?} is not a number"))?;
            Ok(json!({ "expires_in_days": days }))
        }
        None => Ok(json!({})),
    }
}

/// The request for a command line (without the leading `admin`).
pub fn parse(arguments: &[String]) -> anyhow::Result<Call> {
    let call = |method: Method, path: String, body: Option<Value>| Ok(Call { method, path, body });
    let tenants = "/admin/v1/tenants";
    let words: Vec<&str> = arguments.iter().take(2).map(String::as_str).collect();
    let rest = arguments.get(2..).unwrap_or_default();
    // Commands of options only: the query string of a listing.
    for (command, path, allowed, usage) in [
        (
            "events",
            "/admin/v1/events",
            &["tenant", "after", "limit"][..],
            "events [--tenant <slug>] [--after <cursor>] [--limit <n>]",
        ),
        (
            "audit",
            "/admin/v1/audit",
            &["operator", "tenant", "before", "limit"][..],
            "audit [--operator <name>] [--tenant <slug>] [--before <id>] [--limit <n>]",
        ),
    ] {
        if words.first() == Some(&command) {
            let (positional, named) = options(arguments.get(1..).unwrap_or_default(), allowed)?;
            if !positional.is_empty() {
                bail!("{usage}");
            }
            let query: Vec<String> = named.iter().map(|(name, value)| format!("{name}={}", segment(value))).collect();
            let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
            return call(Method::GET, format!("{path}{query}"), None);
        }
    }
    match words.as_slice() {
        ["tenants", "list"] => call(Method::GET, tenants.to_owned(), None),
        ["tenants", verb @ ("show" | "disable" | "enable")] => {
            let (positional, _) = options(rest, &[])?;
            let [slug] = positional.as_slice() else { bail!("tenants {verb} <slug>") };
            match *verb {
                "show" => call(Method::GET, format!("{tenants}/{}", segment(slug)), None),
                _ => call(Method::POST, format!("{tenants}/{}/{verb}", segment(slug)), None),
            }
        }
        ["tenants", "create"] => {
            let (positional, named) = options(rest, &["display-name", "region"])?;
            let [slug] = positional.as_slice() else {
                bail!("tenants create <slug> [--display-name <name>] [--region <region>]")
            };
            let mut body = json!({ "slug": slug });
            for (name, value) in named {
                body[name.replace('-', "_")] = json!(value);
            }
            call(Method::POST, tenants.to_owned(), Some(body))
        }
        ["portal-sessions", verb] => {
            let (positional, named) = options(rest, &["ttl-minutes", "label"])?;
            let sessions = |slug: &str| format!("{tenants}/{}/portal-sessions", segment(slug));
            match (*verb, positional.as_slice()) {
                ("list", [slug]) => call(Method::GET, sessions(slug), None),
                ("issue", [slug]) => {
                    let mut body = json!({});
                    for (name, value) in named {
                        body[name.replace('-', "_")] = match name {
                            "ttl-minutes" => json!(value.parse::<u32>().context("--ttl-minutes is a number")?),
                            _ => json!(value),
                        };
                    }
                    call(Method::POST, sessions(slug), Some(body))
                }
                ("revoke", [slug, id]) => call(Method::DELETE, format!("{}/{}", sessions(slug), segment(id)), None),
                _ => bail!("{USAGE}"),
            }
        }
        ["tokens", verb] => {
            let (positional, named) = options(rest, &["expires-in-days"])?;
            match (*verb, positional.as_slice()) {
                ("list", [slug]) => call(Method::GET, format!("{tenants}/{}/tokens", segment(slug)), None),
                ("issue", [slug]) => {
                    call(Method::POST, format!("{tenants}/{}/tokens", segment(slug)), Some(expiry(&named)?))
                }
                ("revoke", [slug, id]) => {
                    call(Method::DELETE, format!("{tenants}/{}/tokens/{}", segment(slug), segment(id)), None)
                }
                ("rotate", [slug, id]) => call(
                    Method::POST,
                    format!("{tenants}/{}/tokens/{}/rotate", segment(slug), segment(id)),
                    Some(expiry(&named)?),
                ),
                ("complete-rotation" | "cancel-rotation", [slug, id]) => {
                    let end = if *verb == "complete-rotation" { "complete" } else { "cancel" };
                    call(Method::POST, format!("{tenants}/{}/tokens/{}/rotate/{end}", segment(slug), segment(id)), None)
                }
                _ => bail!("{USAGE}"),
            }
        }
        ["settings", "set-lifecycle"] => {
            let (positional, named) = options(rest, &["tombstone-days", "link-by-email"])?;
            let [slug, mode @ ("soft" | "hard")] = positional.as_slice() else {
                bail!("settings set-lifecycle <slug> <soft|hard> [--tombstone-days <n>] [--link-by-email <true|false>]")
            };
            let mut lifecycle = json!({ "delete": mode });
            for (name, value) in named {
                lifecycle[name.replace('-', "_")] = match name {
                    "tombstone-days" => {
                        json!(value.parse::<u32>().with_context(|| format!("--{name} {value:?} is not a number"))?)
                    }
                    _ => json!(
                        value.parse::<bool>().with_context(|| format!("--{name} {value:?} is not true or false"))?
                    ),
                };
            }
            call(
                Method::PATCH,
                format!("{tenants}/{}/settings", segment(slug)),
                Some(json!({ "lifecycle": lifecycle })),
            )
        }
        ["settings", verb] => {
            let (positional, _) = options(rest, &[])?;
            match (*verb, positional.as_slice()) {
                ("show", [slug]) => call(Method::GET, format!("{tenants}/{}/settings", segment(slug)), None),
                ("reset", [slug]) => {
                    call(Method::PUT, format!("{tenants}/{}/settings", segment(slug)), Some(json!({})))
                }
                ("set-cadence", [slug, minutes]) => {
                    let minutes: u32 = minutes.parse().context("the cadence is a number of minutes")?;
                    call(
                        Method::PATCH,
                        format!("{tenants}/{}/settings", segment(slug)),
                        Some(json!({"expected_cadence_minutes": minutes})),
                    )
                }
                ("set-rate-limit", [slug, per_second, burst]) => {
                    let number = |what: &str, text: &str| -> anyhow::Result<u64> {
                        text.parse().with_context(|| format!("{what} {text:?} is not a number"))
                    };
                    let body = json!({ "rate_limit": {
                        "requests_per_second": number("requests per second", per_second)?,
                        "burst": number("burst", burst)?,
                    }});
                    call(Method::PATCH, format!("{tenants}/{}/settings", segment(slug)), Some(body))
                }
                _ => bail!("{USAGE}"),
            }
        }
        ["mapping", verb] => {
            let (positional, _) = options(rest, &[])?;
            let read = |file: &str| -> anyhow::Result<Value> {
                let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
                serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))
            };
            match (*verb, positional.as_slice()) {
                ("show", [slug]) => call(Method::GET, format!("{tenants}/{}/mapping", segment(slug)), None),
                ("set", [slug, file]) => {
                    call(Method::PUT, format!("{tenants}/{}/mapping", segment(slug)), Some(read(file)?))
                }
                ("set-group-permissions", [slug, file]) => {
                    call(Method::PUT, format!("{tenants}/{}/group-permissions", segment(slug)), Some(read(file)?))
                }
                _ => bail!("{USAGE}"),
            }
        }
        ["jobs", verb] => {
            let (positional, _) = options(rest, &[])?;
            match (*verb, positional.as_slice()) {
                ("list", [slug]) => call(Method::GET, format!("{tenants}/{}/jobs", segment(slug)), None),
                ("show", [slug, id]) => {
                    call(Method::GET, format!("{tenants}/{}/jobs/{}", segment(slug), segment(id)), None)
                }
                _ => bail!("{USAGE}"),
            }
        }
        ["republish" | "reconcile", slug] => {
            let (positional, _) = options(rest, &[])?;
            if !positional.is_empty() {
                bail!("{USAGE}");
            }
            call(Method::POST, format!("{tenants}/{}/{}", segment(slug), words[0]), None)
        }
        ["set-aside", verb] => {
            let set_aside = "/admin/v1/outbox/set-aside";
            let (positional, named) = options(rest, &["tenant", "limit"])?;
            let query: Vec<String> = named.iter().map(|(name, value)| format!("{name}={}", segment(value))).collect();
            let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
            match (*verb, positional.as_slice()) {
                ("list", []) => call(Method::GET, format!("{set_aside}{query}"), None),
                ("retry", []) => call(Method::POST, format!("{set_aside}/retry{query}"), None),
                ("retry", [seq]) if named.is_empty() => {
                    call(Method::POST, format!("{set_aside}/{}/retry", segment(seq)), None)
                }
                ("discard", [seq]) if named.is_empty() => {
                    call(Method::DELETE, format!("{set_aside}/{}", segment(seq)), None)
                }
                _ => bail!("{USAGE}"),
            }
        }
        ["webhooks", verb] => {
            let webhooks = "/admin/v1/webhooks";
            let (positional, named) =
                options(rest, &["tenant", "event-types", "description", "state", "limit", "since"])?;
            let query = |allowed: &[&str]| -> anyhow::Result<String> {
                let mut parts = Vec::new();
                for (name, value) in &named {
                    if !allowed.contains(name) {
                        bail!("--{name} does not apply to webhooks {verb}");
                    }
                    parts.push(format!("{name}={}", segment(value)));
                }
                Ok(if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) })
            };
            let body = |allowed: &[&str]| -> anyhow::Result<Value> {
                let mut body = json!({});
                for (name, value) in &named {
                    if !allowed.contains(name) {
                        bail!("--{name} does not apply to webhooks {verb}");
                    }
                    body[name.replace('-', "_")] = match *name {
                        "event-types" => json!(value.split(',').map(str::trim).collect::<Vec<_>>()),
                        _ => json!(value),
                    };
                }
                Ok(body)
            };
            match (*verb, positional.as_slice()) {
                ("list", []) if named.is_empty() => call(Method::GET, webhooks.to_owned(), None),
                ("show", [id]) if named.is_empty() => call(Method::GET, format!("{webhooks}/{}", segment(id)), None),
                ("delete", [id]) if named.is_empty() => {
                    call(Method::DELETE, format!("{webhooks}/{}", segment(id)), None)
                }
                ("create", [url]) => {
                    let mut body = body(&["tenant", "event-types", "description"])?;
                    body["url"] = json!(url);
                    call(Method::POST, webhooks.to_owned(), Some(body))
                }
                ("deliveries", [id]) => call(
                    Method::GET,
                    format!("{webhooks}/{}/deliveries{}", segment(id), query(&["state", "limit"])?),
                    None,
                ),
                ("replay", [id]) => {
                    call(Method::POST, format!("{webhooks}/{}/replay", segment(id)), Some(body(&["since", "state"])?))
                }
                _ => bail!("{USAGE}"),
            }
        }
        ["operator-keys", verb] => {
            let (positional, _) = options(rest, &[])?;
            let keys = "/admin/v1/operator-keys";
            match (*verb, positional.as_slice()) {
                ("list", []) => call(Method::GET, keys.to_owned(), None),
                ("issue", [name, scope]) => {
                    call(Method::POST, keys.to_owned(), Some(json!({"name": name, "scope": scope})))
                }
                ("revoke", [id]) => call(Method::DELETE, format!("{keys}/{}", segment(id)), None),
                _ => bail!("{USAGE}"),
            }
        }
        ["log", slug] => {
            let (positional, named) = options(rest, &["since", "until", "status", "resource-id", "limit"])?;
            if !positional.is_empty() {
                bail!("{USAGE}");
            }
            let query: Vec<String> =
                named.iter().map(|(name, value)| format!("{}={}", name.replace('-', "_"), segment(value))).collect();
            let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
            call(Method::GET, format!("{tenants}/{}/provisioning-log{query}", segment(slug)), None)
        }
        ["log"] => bail!("log <slug> [options]"),
        _ => bail!("{USAGE}"),
    }
}

/// Runs a command line and exits: 0 on success, 1 with the error on stderr (no backtrace: the
/// operator needs the API's answer, not the CLI's stack).
pub async fn main(arguments: &[String], source: &impl Source) -> ! {
    match run(arguments, source).await {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("{error:#}");
            std::process::exit(1)
        }
    }
}

/// Runs a command line against the admin API; prints the answer.
pub async fn run(arguments: &[String], source: &impl Source) -> anyhow::Result<()> {
    let call = parse(arguments)?;
    let base = source.get("ADMIN_URL").filter(|u| !u.trim().is_empty());
    let base = base.unwrap_or_else(|| "http://127.0.0.1:8081".to_owned());
    let token = source.get("ADMIN_TOKEN").filter(|t| !t.trim().is_empty()).context("ADMIN_TOKEN must be set")?;
    let url = format!("{}{}", base.trim_end_matches('/'), call.path);
    let mut client = reqwest::Client::builder();
    // An https:// ADMIN_URL is checked against the built-in roots, or this private CA.
    if let Some(path) = source.get("ADMIN_CA_FILE").filter(|p| !p.trim().is_empty()) {
        let pem = std::fs::read(path.trim()).with_context(|| format!("ADMIN_CA_FILE={path:?} cannot be read"))?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("ADMIN_CA_FILE={path:?} is not a PEM certificate"))?;
        client = client.add_root_certificate(ca);
    }
    let client = client.build().context("the admin API client")?;
    let mut request = client.request(call.method, &url).bearer_auth(token.trim());
    if let Some(body) = call.body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| format!("cannot reach the admin API at {base}"))?;
    let status = response.status();
    let text = response.text().await.context("reading the admin API's answer")?;
    let shown = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|json| serde_json::to_string_pretty(&json).ok())
        .unwrap_or(text);
    if status.is_success() {
        if !shown.is_empty() {
            println!("{shown}");
        }
        Ok(())
    } else {
        bail!("the admin API answered {status}: {shown}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn webhook_command_lines_become_requests() {
        let create = parse(&words(
            "webhooks create https://app.example/h --tenant acme --event-types user.created,group.deleted",
        ))
        .unwrap();
        assert_eq!((create.method, create.path.as_str()), (Method::POST, "/admin/v1/webhooks"));
        assert_eq!(
            create.body,
            Some(
                json!({"tenant": "acme", "event_types": ["user.created", "group.deleted"], "url": "https://app.example/h"})
            )
        );
        let deliveries = parse(&words("webhooks deliveries 0193 --state dead --limit 5")).unwrap();
        assert_eq!(deliveries.path, "/admin/v1/webhooks/0193/deliveries?state=dead&limit=5");
        let replay = parse(&words("webhooks replay 0193 --state dead")).unwrap();
        assert_eq!(
            (replay.path.as_str(), replay.body),
            ("/admin/v1/webhooks/0193/replay", Some(json!({"state": "dead"})))
        );
        assert_eq!(parse(&words("webhooks delete 0193")).unwrap().method, Method::DELETE);
        assert!(parse(&words("webhooks deliveries 0193 --tenant acme")).is_err(), "an option of another verb");
        assert!(parse(&words("webhooks list extra")).is_err());
        assert_eq!(parse(&words("events")).unwrap().path, "/admin/v1/events");
        let events = parse(&words("events --tenant acme --after djE --limit 5")).unwrap();
        assert_eq!(
            (events.method, events.path.as_str()),
            (Method::GET, "/admin/v1/events?tenant=acme&after=djE&limit=5")
        );
        assert!(parse(&words("events acme")).is_err());
        assert!(parse(&words("events --state dead")).is_err());
    }

    #[test]
    fn command_lines_become_requests() {
        let create = parse(&words("tenants create acme --display-name Acme --region eu")).unwrap();
        assert_eq!(create.method, Method::POST);
        assert_eq!(create.path, "/admin/v1/tenants");
        assert_eq!(create.body, Some(json!({"slug": "acme", "display_name": "Acme", "region": "eu"})));
        let rotate = parse(&words("tokens rotate acme 0193 --expires-in-days 90")).unwrap();
        assert_eq!(rotate.path, "/admin/v1/tenants/acme/tokens/0193/rotate");
        assert_eq!(rotate.body, Some(json!({"expires_in_days": 90})));
        assert_eq!(
            parse(&words("tokens cancel-rotation acme 0193")).unwrap().path,
            "/admin/v1/tenants/acme/tokens/0193/rotate/cancel"
        );
        assert_eq!(parse(&words("tokens revoke acme x")).unwrap().method, Method::DELETE);
        let log = parse(&words("log acme --status 4xx --since 2026-11-23T10:00:00+01:00")).unwrap();
        assert_eq!(
            log.path,
            "/admin/v1/tenants/acme/provisioning-log?status=4xx&since=2026-11-23T10%3A00%3A00%2B01%3A00"
        );
        let limit = parse(&words("settings set-rate-limit acme 25 50")).unwrap();
        assert_eq!(limit.method, Method::PATCH, "the other settings are kept");
        assert_eq!(limit.body, Some(json!({"rate_limit": {"requests_per_second": 25, "burst": 50}})));
        let lifecycle = parse(&words("settings set-lifecycle acme hard --link-by-email false")).unwrap();
        assert_eq!(lifecycle.body, Some(json!({"lifecycle": {"delete": "hard", "link_by_email": false}})));
        assert_eq!(parse(&words("mapping show acme")).unwrap().path, "/admin/v1/tenants/acme/mapping");
        assert_eq!(parse(&words("jobs list acme")).unwrap().path, "/admin/v1/tenants/acme/jobs");
        let job = parse(&words("jobs show acme 0193")).unwrap();
        assert_eq!((job.method, job.path.as_str()), (Method::GET, "/admin/v1/tenants/acme/jobs/0193"));
        let call = |line: &str| {
            let call = parse(&words(line)).unwrap();
            (call.method, call.path)
        };
        assert_eq!(call("reconcile acme"), (Method::POST, "/admin/v1/tenants/acme/reconcile".to_owned()));
        assert_eq!(call("republish acme"), (Method::POST, "/admin/v1/tenants/acme/republish".to_owned()));
        assert_eq!(
            call("set-aside list --tenant acme"),
            (Method::GET, "/admin/v1/outbox/set-aside?tenant=acme".to_owned())
        );
        assert_eq!(call("set-aside retry 42"), (Method::POST, "/admin/v1/outbox/set-aside/42/retry".to_owned()));
        assert_eq!(
            call("set-aside retry --tenant acme"),
            (Method::POST, "/admin/v1/outbox/set-aside/retry?tenant=acme".to_owned())
        );
        assert_eq!(call("set-aside discard 42"), (Method::DELETE, "/admin/v1/outbox/set-aside/42".to_owned()));
        assert!(parse(&words("set-aside discard")).is_err());
        let session = parse(&words("portal-sessions issue acme --ttl-minutes 30 --label it@acme")).unwrap();
        assert_eq!((session.method, session.path.as_str()), (Method::POST, "/admin/v1/tenants/acme/portal-sessions"));
        assert_eq!(session.body, Some(json!({"ttl_minutes": 30, "label": "it@acme"})));
        assert_eq!(
            call("portal-sessions revoke acme 0193"),
            (Method::DELETE, "/admin/v1/tenants/acme/portal-sessions/0193".to_owned())
        );
        assert!(parse(&words("portal-sessions issue acme --ttl-minutes soon")).is_err());
        let cadence = parse(&words("settings set-cadence acme 1440")).unwrap();
        assert_eq!(cadence.method, Method::PATCH, "the other settings are kept");
        assert_eq!(cadence.body, Some(json!({"expected_cadence_minutes": 1440})));
    }

    #[test]
    fn bad_command_lines_say_why() {
        for line in [
            "",
            "tenants",
            "tenants create",
            "tokens issue acme --forever",
            "settings set-rate-limit acme x 1",
            "jobs show acme",
        ] {
            assert!(parse(&words(line)).is_err(), "{line}");
        }
    }
}
