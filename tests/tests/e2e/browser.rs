//! The self-serve portal in a real browser: headless Chromium (Debian's `chromium` and its
//! `chromedriver`, installed by `scripts/test.sh`; nothing is downloaded) drives the page
//! served by the production stack (gateway, core, directory on PostgreSQL and Kafka) as a
//! customer's admin would: open the link, read the tenant URL, generate a token, provision
//! users and a group with it over SCIM as Entra ID does, see them and a warning appear,
//! give the group a permission and find it in the directory, rotate and revoke the token, add a
//! webhook endpoint whose signed deliveries a receiver in the test checks, see them listed, and
//! remove it.
//! Each step's screenshot is kept in `target/portal-screenshots/`.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::receiver::{delivered, start_receiver};
use crate::support::{
    Client, Cluster, ClusterOptions, Endpoints, Portal, Process, entra, eventually, free_port, id_of, required_env,
};

/// A chromedriver for the test, on a port of its own; stopped with the test.
struct Driver {
    process: Process,
    url: String,
}

impl Driver {
    async fn start(logs: &std::path::Path) -> Self {
        let program = PathBuf::from(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()));
        assert!(
            program.exists(),
            "{} is missing: scripts/test.sh installs Debian's chromium-driver",
            program.display()
        );
        let port = free_port();
        let process = Process::spawn("chromedriver", program, &[&format!("--port={port}")], &[], logs);
        let url = format!("http://127.0.0.1:{port}");
        eventually("chromedriver to answer", || async {
            let status = reqwest::get(format!("{url}/status")).await.ok()?;
            status.status().is_success().then_some(())
        })
        .await;
        Self { process, url }
    }

    async fn browser(&self) -> Browser {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,1700", "--lang=en-US"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(capabilities).connect(&self.url).await.expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.process.kill();
    }
}

/// Where the screenshots go (the workspace's target directory).
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/portal-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

/// A screenshot of the window, scrolled to the heading `heading` (an element id).
async fn screenshot(browser: &Browser, name: &str, heading: &str) {
    browser
        .execute("document.getElementById(arguments[0]).scrollIntoView();", vec![json!(heading)])
        .await
        .expect("scrolling");
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(name), png).expect("saving the screenshot");
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.expect("text")
}

async fn value_of(browser: &Browser, css: &str) -> String {
    let element = browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    element.prop("value").await.expect("value").unwrap_or_default()
}

async fn click(browser: &Browser, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.expect("click");
}

/// Waits until the page satisfies `check` (clicking Refresh between looks when `refresh`).
async fn page_until<F, Fut>(browser: &Browser, what: &str, refresh: bool, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually(what, || async {
        if check().await {
            return Some(());
        }
        if refresh {
            click(browser, "#refresh").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        None
    })
    .await;
}

/// The token table's row of an active token (its shown prefix begins the secret), and its id.
async fn token_row(browser: &Browser, secret: &str) -> (fantoccini::elements::Element, String) {
    for row in browser.find_all(Locator::Css("#tokens tbody tr")).await.expect("token rows") {
        let cells = row.find_all(Locator::Css("td")).await.expect("cells");
        let (Some(prefix), Some(status)) = (cells.first(), cells.get(1)) else { continue };
        let prefix = prefix.text().await.unwrap_or_default();
        let prefix = prefix.trim_end_matches('…');
        if !prefix.is_empty() && secret.starts_with(prefix) && status.text().await.unwrap_or_default() == "active" {
            let id = row.attr("data-token-id").await.expect("id").expect("a token id");
            return (row, id);
        }
    }
    panic!("no active token row for {}…", &secret[..12.min(secret.len())]);
}

async fn problem_codes(browser: &Browser) -> Vec<String> {
    let codes = browser
        .execute("return [...document.querySelectorAll('#problems li')].map(li => li.dataset.code || '');", vec![])
        .await
        .expect("the problems");
    serde_json::from_value(codes).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_admin_sets_up_provisioning_in_chromium() {
    let logs = tempfile::tempdir().expect("log dir");
    let driver = Driver::start(logs.path()).await;
    let (receiver, receiver_url) = start_receiver(0);
    let mut options = ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"));
    // The test's webhook receiver listens on 127.0.0.1.
    options.core_env = vec![("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true".to_owned())];
    let cluster = Cluster::start_with(options).await;
    let (_, issued) = Portal::open(&cluster.admin, &cluster.portal, &cluster.client.endpoints.tenant).await;
    let link = issued["url"].as_str().expect("the portal link").to_owned();
    let browser = driver.browser().await;

    // 1. Open the link: the session leaves the address bar; the tenant URL is shown.
    browser.goto(&link).await.expect("the link opens");
    page_until(&browser, "the tenant URL on the page", false, || async {
        !value_of(&browser, "#tenant-url").await.is_empty()
    })
    .await;
    let address = browser.current_url().await.expect("the address").to_string();
    assert!(!address.contains("session"), "the session is not left in the address bar: {address}");
    let tenant_url = value_of(&browser, "#tenant-url").await;
    assert_eq!(tenant_url, cluster.client.endpoints.scim, "the tenant URL to paste");
    assert!(text_of(&browser, "#setup-entra").await.contains(&tenant_url), "the Entra steps name it");
    assert!(text_of(&browser, "#setup-entra").await.contains("roles[primary eq \"True\"].value"));
    let unlabeled = browser
        .execute(
            "return [...document.querySelectorAll('input, select')].filter(e => e.labels.length === 0).map(e => e.id);",
            vec![],
        )
        .await
        .expect("the form fields");
    assert_eq!(unlabeled, json!([]), "every field has a label");
    let overflow = browser
        .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth;", vec![])
        .await
        .expect("the page's width");
    assert_eq!(overflow, json!(0), "no sideways scrolling on a laptop screen");
    screenshot(&browser, "1-opened.png", "h-status").await;

    // 2. Generate a token: shown once, and written into the IdP steps.
    click(&browser, "#generate-token").await;
    page_until(&browser, "the new token", false, || async { !value_of(&browser, "#new-token-value").await.is_empty() })
        .await;
    let token = value_of(&browser, "#new-token-value").await;
    assert!(token.starts_with("scim_"), "{token}");
    assert!(text_of(&browser, "#setup-entra").await.contains(&token), "the Entra steps name the new token");
    let focused = browser.active_element().await.expect("focus").attr("id").await.expect("id");
    assert_eq!(focused.as_deref(), Some("new-token-value"), "focus moves to the secret to copy");
    screenshot(&browser, "2-token.png", "h-credentials").await;

    // 3. Entra provisions with them: two users (one without givenName), a group, an unknown member.
    let mut users = Vec::new();
    for (user_name, name) in [
        ("ann@acme.example", json!({"givenName": "Ann", "familyName": "Lee"})),
        ("cara@acme.example", json!({"familyName": "Jones"})),
    ] {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name,
            "active": true, "name": name, "emails": [{"value": user_name, "type": "work", "primary": true}]});
        let (status, user) = entra(&tenant_url, &token, Method::POST, "/Users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        users.push(id_of(&user));
    }
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering",
        "members": [{"value": users[0]}, {"value": users[1]}]});
    let (status, group) = entra(&tenant_url, &token, Method::POST, "/Groups", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group = id_of(&group);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": [{"value": "not-assigned-to-the-app"}]}]});
    let (status, _) = entra(&tenant_url, &token, Method::PATCH, &format!("/Groups/{group}"), Some(patch)).await;
    assert!(status.is_success(), "{status}");

    page_until(&browser, "the sync, the users and the warning on the page", true, || async {
        let codes = problem_codes(&browser).await;
        text_of(&browser, "#connection-status").await == "Syncing on schedule"
            && codes.contains(&"missing_given_name".to_owned())
            && codes.contains(&"requests_with_warnings".to_owned())
            && text_of(&browser, "#users tbody").await.contains("cara@acme.example")
    })
    .await;
    assert_eq!(text_of(&browser, "#idp").await, "Microsoft Entra ID");
    assert!(text_of(&browser, "#problems").await.contains("1 of 2 users arrived without givenName."));
    assert!(text_of(&browser, "#groups tbody").await.contains("Engineering"));
    assert!(text_of(&browser, "#log tbody").await.contains("PATCH /Groups/"), "the log shows the requests");
    screenshot(&browser, "3-provisioned.png", "h-status").await;

    // 4. Give the group a permission: it reaches the directory.
    let field = browser.find(Locator::Css(&format!("#permissions-{group}"))).await.expect("the permissions field");
    field.clear().await.expect("clear");
    field.send_keys("deploy, read").await.expect("typing");
    click(&browser, &format!("tr[data-group-id='{group}'] button[type='submit']")).await;
    page_until(&browser, "the saved permissions", false, || async {
        text_of(&browser, "#message").await.starts_with("Saved")
    })
    .await;
    let directory = Client::new(Endpoints {
        scim: tenant_url.clone(),
        token: token.clone(),
        directory: cluster.client.endpoints.directory.clone(),
        tenant: cluster.client.endpoints.tenant.clone(),
    });
    let team = directory
        .directory_until("teams", &group, "the team's permission in the directory", |status, team| {
            status == StatusCode::OK && team["permissions"] == json!(["deploy", "read"])
        })
        .await;
    assert_eq!(team["name"], "Engineering", "{team}");
    screenshot(&browser, "4-permissions.png", "h-groups").await;

    // 5. Rotate: both tokens work until the rotation is finished.
    let (row, old_id) = token_row(&browser, &token).await;
    row.find(Locator::Css("button[aria-label^='Rotate']")).await.expect("Rotate").click().await.expect("click");
    page_until(&browser, "the rotated token", false, || async {
        let shown = value_of(&browser, "#new-token-value").await;
        !shown.is_empty() && shown != token
    })
    .await;
    let new_token = value_of(&browser, "#new-token-value").await;
    for secret in [&token, &new_token] {
        assert_eq!(entra(&tenant_url, secret, Method::GET, "/Users?count=1", None).await.0, StatusCode::OK);
    }
    click(&browser, &format!("tr[data-token-id='{old_id}'] button[aria-label^='Finish']")).await;
    page_until(&browser, "the rotation finished", false, || async {
        text_of(&browser, "#message").await.starts_with("Rotation finished")
    })
    .await;
    assert_eq!(entra(&tenant_url, &token, Method::GET, "/Users?count=1", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(entra(&tenant_url, &new_token, Method::GET, "/Users?count=1", None).await.0, StatusCode::OK);
    screenshot(&browser, "5-rotated.png", "h-credentials").await;

    // 6. Revoke it: the confirmation, then the IdP is shut out at once.
    let (row, _) = token_row(&browser, &new_token).await;
    row.find(Locator::Css("button[aria-label^='Revoke']")).await.expect("Revoke").click().await.expect("click");
    browser.accept_alert().await.expect("the confirmation");
    page_until(&browser, "the token revoked", false, || async {
        // Not "Rotation finished: the old token is revoked.", still shown from step 5.
        let message = text_of(&browser, "#message").await;
        message.starts_with("The token") && message.contains("is revoked")
    })
    .await;
    assert_eq!(entra(&tenant_url, &new_token, Method::GET, "/Users?count=1", None).await.0, StatusCode::UNAUTHORIZED);
    screenshot(&browser, "6-revoked.png", "h-status").await;

    // 7. A webhook endpoint: its secret shown once, signed deliveries of the next change, listed.
    let field = browser.find(Locator::Css("#webhook-url")).await.expect("the webhook URL field");
    field.send_keys(&receiver_url).await.expect("typing");
    browser
        .find(Locator::Css("#webhook-description"))
        .await
        .expect("description")
        .send_keys("CRM sync")
        .await
        .expect("typing");
    click(&browser, "#add-webhook").await;
    page_until(&browser, "the webhook's secret", false, || async {
        !value_of(&browser, "#new-webhook-secret").await.is_empty()
    })
    .await;
    let secret = value_of(&browser, "#new-webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    *receiver.secret.lock().unwrap() = Some(secret);
    assert!(text_of(&browser, "#webhooks tbody").await.contains("CRM sync"));
    let (status, dan) = cluster
        .client
        .scim(Method::POST, "/Users", Some(json!({"userName": "dan@acme.example", "active": true})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dan}");
    let got = eventually("the signed delivery of dan's creation", || async {
        let got: Vec<_> = delivered(&receiver)
            .into_iter()
            .filter(|r| r.event["data"]["account"]["user_name"] == "dan@acme.example")
            .collect();
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert!(got.iter().all(|r| r.signature_ok), "signed with the secret the page showed");
    assert_eq!(got[0].event["type"], "com.example.scim.user.created");
    page_until(&browser, "the delivery counted on the page", true, || async {
        text_of(&browser, "#webhooks tbody tr td:nth-child(4)").await != "0"
    })
    .await;
    click(&browser, "#webhooks tbody button[aria-label^='Show the deliveries']").await;
    page_until(&browser, "the deliveries listed", false, || async {
        let shown = text_of(&browser, "#webhook-deliveries tbody").await;
        shown.contains("user.created") && shown.contains("delivered")
    })
    .await;
    screenshot(&browser, "7-webhooks.png", "h-webhooks").await;
    click(&browser, "#webhooks tbody button[aria-label^='Remove']").await;
    browser.accept_alert().await.expect("the confirmation");
    page_until(&browser, "the endpoint removed", false, || async {
        text_of(&browser, "#webhooks tbody").await.contains("No endpoints yet")
    })
    .await;
    let (_, left) = cluster.admin.call(Method::GET, "/admin/v1/webhooks", None).await;
    assert_eq!(left["webhooks"], json!([]), "{left}");
    browser.close().await.expect("closing the browser");
}
