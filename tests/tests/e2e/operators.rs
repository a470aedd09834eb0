//! Operator identities on the admin API: named keys with a scope (read_only, tenant_admin,
//! full), stored hashed, issued and revoked through the API, each request allowed or refused by
//! its scope, and every change (allowed or not) in the audit log with who, what, when and the
//! result, readable through the API and the CLI. On standalone (SQLite) and on the three services
//! (PostgreSQL).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Admin, Cluster, Standalone, binary};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_keys_and_the_audit_log_on_standalone() {
    let standalone = Standalone::start().await;
    operators_are_scoped_and_audited(&standalone.admin, &standalone.client.endpoints.tenant, "standalone").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_keys_and_the_audit_log_on_the_three_services() {
    let cluster = Cluster::start().await;
    operators_are_scoped_and_audited(&cluster.admin, &cluster.client.endpoints.tenant, "provisioning-core").await;
}

async fn issue(admin: &Admin, token: &str, name: &str, scope: &str) -> (StatusCode, Value) {
    admin.call_as(token, Method::POST, "/admin/v1/operator-keys", Some(json!({"name": name, "scope": scope}))).await
}

async fn operators_are_scoped_and_audited(admin: &Admin, tenant: &str, program: &str) {
    let root = admin.token.clone();
    let mut keys = std::collections::HashMap::new();
    for (name, scope) in [("reader", "read_only"), ("tenant-admin", "tenant_admin"), ("ops", "full")] {
        let (status, made) = issue(admin, &root, name, scope).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        assert_eq!(
            (made["name"].as_str(), made["scope"].as_str(), made["created_by"].as_str()),
            (Some(name), Some(scope), Some("ADMIN_TOKEN"))
        );
        let key = made["key"].as_str().expect("the key, shown once").to_owned();
        assert!(key.starts_with("opkey_"), "{key}");
        keys.insert(name, (key, made["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(issue(admin, &root, "reader", "full").await.0, StatusCode::CONFLICT, "a name is never reused");
    assert_eq!(issue(admin, &root, "x", "superuser").await.0, StatusCode::BAD_REQUEST);
    let (_, listed) = admin.call_as(&root, Method::GET, "/admin/v1/operator-keys", None).await;
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(3), "{listed}");
    assert!(listed["keys"].as_array().unwrap().iter().all(|k| k.get("key").is_none() && k.get("key_sha256").is_none()));

    let (reader, tenant_admin, ops) = (&keys["reader"].0, &keys["tenant-admin"].0, &keys["ops"].0);
    let tokens = format!("/admin/v1/tenants/{tenant}/tokens");
    for (key, method, path, body, expected) in [
        (reader, Method::GET, "/admin/v1/tenants".to_owned(), None, StatusCode::OK),
        (reader, Method::GET, "/admin/v1/webhooks".to_owned(), None, StatusCode::OK),
        (reader, Method::POST, tokens.clone(), Some(json!({})), StatusCode::FORBIDDEN),
        (reader, Method::GET, "/admin/v1/operator-keys".to_owned(), None, StatusCode::FORBIDDEN),
        (tenant_admin, Method::POST, tokens.clone(), Some(json!({})), StatusCode::CREATED),
        (
            tenant_admin,
            Method::POST,
            "/admin/v1/webhooks".to_owned(),
            Some(json!({"url": "https://hooks.example.com/x"})),
            StatusCode::FORBIDDEN,
        ),
        (
            tenant_admin,
            Method::POST,
            "/admin/v1/operator-keys".to_owned(),
            Some(json!({"name": "mine", "scope": "full"})),
            StatusCode::FORBIDDEN,
        ),
        (
            ops,
            Method::POST,
            "/admin/v1/operator-keys".to_owned(),
            Some(json!({"name": "ci-bot", "scope": "read_only"})),
            StatusCode::CREATED,
        ),
        // Spelt with percent-escapes, a path reaches the same route and needs the same scope.
        (reader, Method::GET, "/admin/v1/%6Fperator-keys".to_owned(), None, StatusCode::FORBIDDEN),
        (
            tenant_admin,
            Method::POST,
            "/admin/v1/%77ebhooks".to_owned(),
            Some(json!({"url": "https://hooks.example.com/y"})),
            StatusCode::FORBIDDEN,
        ),
        (
            tenant_admin,
            Method::POST,
            format!("/%61dmin/v1/tenants/{tenant}/tokens"),
            Some(json!({})),
            StatusCode::CREATED,
        ),
    ] {
        let (status, answer) = admin.call_as(key, method.clone(), &path, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        if status == StatusCode::FORBIDDEN {
            assert!(answer["detail"].as_str().is_some_and(|d| d.contains("scope")), "{answer}");
        }
    }
    // Revoked: refused at once.
    let (status, revoked) =
        admin.call_as(ops, Method::DELETE, &format!("/admin/v1/operator-keys/{}", keys["reader"].1), None).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(admin.call_as(reader, Method::GET, "/admin/v1/tenants", None).await.0, StatusCode::UNAUTHORIZED);
    let (status, refused) = admin.call_as(reader, Method::POST, &tokens, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        refused["detail"].as_str().unwrap().contains("'reader'")
            && refused["detail"].as_str().unwrap().contains("revoked"),
        "{refused}"
    );
    let (status, _) = admin.call_as("opkey_nobody", Method::POST, &tokens, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The audit log: every change, allowed or refused, with who and the result; reads are not in it.
    let (status, audit) = admin.call_as(ops, Method::GET, "/admin/v1/audit?limit=1000", None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit["entries"].as_array().expect("entries").clone();
    let has = |operator: &str, method: &str, path: &str, status: i64| {
        entries
            .iter()
            .any(|e| e["operator"] == operator && e["method"] == method && e["path"] == path && e["status"] == status)
    };
    assert!(has("ADMIN_TOKEN", "POST", "/admin/v1/operator-keys", 201), "{entries:?}");
    assert!(has("tenant-admin", "POST", &tokens, 201), "{entries:?}");
    assert!(has("reader", "POST", &tokens, 403), "{entries:?}");
    assert!(has("tenant-admin", "POST", "/admin/v1/webhooks", 403), "{entries:?}");
    assert!(has("ops", "DELETE", &format!("/admin/v1/operator-keys/{}", keys["reader"].1), 200), "{entries:?}");
    assert!(has("reader", "POST", &tokens, 401), "the revoked key's attempt, named: {entries:?}");
    let attempt = entries.iter().find(|e| e["operator"] == "reader" && e["status"] == 401).unwrap();
    assert_eq!(attempt["key_id"], keys["reader"].1, "{attempt}");
    assert!(has("(unauthenticated)", "POST", &tokens, 401), "an unknown credential's attempt: {entries:?}");
    assert!(
        has("tenant-admin", "POST", &format!("/%61dmin/v1/tenants/{tenant}/tokens"), 201),
        "a change through an escaped path is audited too: {entries:?}"
    );
    assert!(entries.iter().all(|e| e["method"] != "GET"), "reads are not audited");
    let tenant_row = entries.iter().find(|e| e["operator"] == "tenant-admin" && e["status"] == 201).unwrap();
    assert_eq!(tenant_row["tenant"], tenant);
    assert!(tenant_row["at"].as_str().is_some_and(|at| at.ends_with('Z')));
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let (_, mine) = admin.call_as(ops, Method::GET, "/admin/v1/audit?operator=tenant-admin", None).await;
    let mine = mine["entries"].as_array().unwrap().clone();
    assert_eq!(mine.len(), 5, "{mine:?}");
    let (_, of_tenant) = admin.call_as(ops, Method::GET, &format!("/admin/v1/audit?tenant={tenant}"), None).await;
    assert!(of_tenant["entries"].as_array().unwrap().iter().all(|e| e["tenant"] == tenant));
    let (_, paged) = admin.call_as(ops, Method::GET, "/admin/v1/audit?limit=2", None).await;
    let before = paged["next"].as_i64().expect("a next page");
    let (_, rest) = admin.call_as(ops, Method::GET, &format!("/admin/v1/audit?limit=1000&before={before}"), None).await;
    assert_eq!(rest["entries"].as_array().unwrap().len() + 2, entries.len());
    assert_eq!(admin.call_as(ops, Method::GET, "/admin/v1/audit?limit=0", None).await.0, StatusCode::BAD_REQUEST);

    // The CLI, with an operator key as its credential.
    let output = std::process::Command::new(binary(program))
        .args(["admin", "audit", "--operator", "ops", "--limit", "10"])
        .env("ADMIN_URL", &admin.url)
        .env("ADMIN_TOKEN", ops)
        .output()
        .expect("the admin CLI");
    assert!(output.status.success(), "{output:?}");
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(printed["entries"].as_array().unwrap().iter().all(|e| e["operator"] == "ops"), "{printed}");
    assert!(!printed["entries"].as_array().unwrap().is_empty());
    let table = std::process::Command::new(binary(program))
        .args(["admin", "--output", "table", "tenants", "list"])
        .env("ADMIN_URL", &admin.url)
        .env("ADMIN_TOKEN", ops)
        .output()
        .expect("the admin CLI");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success() && text.starts_with("SLUG") && text.contains(tenant), "{table:?}");
    let help = std::process::Command::new(binary(program)).args(["admin", "audit", "--help"]).output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--before"), "{help:?}");
}
