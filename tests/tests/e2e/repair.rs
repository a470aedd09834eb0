//! Operators' repairs on the production stack: the reconciliation finds what the directory
//! lost (a membership, an account's last version), a republish repairs it, and set-aside
//! events are listed, retried and discarded.

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Cluster, eventually};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn sql(url: &str, statement: &str) -> usize {
    let mut conn = PgConnection::establish(url).expect("a database connection");
    diesel::sql_query(statement).execute(&mut conn).expect(statement)
}

async fn reconcile(cluster: &Cluster) -> Value {
    let (status, answer) = cluster.admin.call(Method::POST, "/admin/v1/tenants/acme/reconcile", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_finds_what_the_directory_lost_and_republish_repairs_it() {
    let cluster = Cluster::start().await;
    let client = &cluster.client;
    let mut users = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let body = json!({"schemas": [CORE_USER], "userName": format!("{name}@example.com"), "active": true});
        let (status, user) = client.scim(Method::POST, "/Users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        users.push(user["id"].as_str().unwrap().to_owned());
    }
    let members: Vec<Value> = users[..2].iter().map(|id| json!({"value": id})).collect();
    let (status, group) =
        client.scim(Method::POST, "/Groups", Some(json!({"displayName": "Ops", "members": members}))).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().unwrap().to_owned();
    let clean = eventually("the directory holds everything", || async {
        let answer = reconcile(&cluster).await;
        (answer["difference_count"] == 0).then_some(answer)
    })
    .await;
    assert_eq!((clean["core"]["users"].as_u64(), clean["core"]["groups"].as_u64()), (Some(3), Some(1)), "{clean}");

    // What a lost event leaves behind: a membership gone, an account one version behind.
    let directory = cluster.directory_database_url().to_owned();
    let removed =
        sql(&directory, &format!("DELETE FROM memberships WHERE tenant_id = 'acme' AND account_id = '{}'", users[0]));
    assert_eq!(removed, 1);
    let staled = sql(
        &directory,
        &format!("UPDATE accounts SET version = version - 1 WHERE tenant_id = 'acme' AND id = '{}'", users[2]),
    );
    assert_eq!(staled, 1);
    let found = reconcile(&cluster).await;
    assert_eq!(found["difference_count"], 2, "{found}");
    let problems: Vec<(&str, &str)> = found["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap(), d["problem"].as_str().unwrap()))
        .collect();
    assert!(problems.contains(&(users[2].as_str(), "stale in the directory")), "{problems:?}");
    assert!(problems.contains(&(group_id.as_str(), "members differ")), "{problems:?}");

    // The repair: every current record published again, by a background job.
    let (status, job) = cluster.admin.call(Method::POST, "/admin/v1/tenants/acme/republish", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();
    eventually("the republish job finishes", || async {
        let (_, job) = cluster.admin.call(Method::GET, &format!("/admin/v1/tenants/acme/jobs/{job_id}"), None).await;
        job["finished_at"].is_string().then_some(())
    })
    .await;
    eventually("the directory is repaired", || async {
        let answer = reconcile(&cluster).await;
        (answer["difference_count"] == 0).then_some(())
    })
    .await;

    // Set-aside events (the broker refused them for good): one made so by hand here.
    let core = cluster.core_database.url.clone();
    let set_aside = |seq_of: &str| {
        format!(
            "UPDATE outbox SET published_at = NULL, failed_at = 1, failure = 'refused by the broker' \
             WHERE seq = (SELECT max(seq) FROM outbox WHERE resource_id = '{seq_of}')"
        )
    };
    assert_eq!(sql(&core, &set_aside(&users[1])), 1);
    let (_, listed) = cluster.admin.call(Method::GET, "/admin/v1/outbox/set-aside?tenant=acme", None).await;
    assert_eq!(listed["total"], 1, "{listed}");
    let event = &listed["events"][0];
    assert_eq!(
        (event["resource_id"].as_str(), event["reason"].as_str()),
        (Some(users[1].as_str()), Some("refused by the broker"))
    );
    let ready: Value = reqwest::get(format!("{}/readyz", cluster.admin.url)).await.unwrap().json().await.unwrap();
    assert_eq!(ready["outbox_set_aside"], 1, "{ready}");
    let seq = event["seq"].as_i64().unwrap();
    let (status, retried) =
        cluster.admin.call(Method::POST, &format!("/admin/v1/outbox/set-aside/{seq}/retry"), None).await;
    assert_eq!((status, retried["retried"].as_u64()), (StatusCode::OK, Some(1)));
    eventually("the retried event is published", || async {
        let (_, listed) = cluster.admin.call(Method::GET, "/admin/v1/outbox/set-aside", None).await;
        let published = sql(&core, &format!("SELECT 1 FROM outbox WHERE seq = {seq} AND published_at IS NOT NULL"));
        (listed["total"] == 0 && published == 1).then_some(())
    })
    .await;
    assert_eq!(sql(&core, &set_aside(&users[2])), 1);
    let (_, listed) = cluster.admin.call(Method::GET, "/admin/v1/outbox/set-aside", None).await;
    let seq = listed["events"][0]["seq"].as_i64().unwrap();
    let (status, _) = cluster.admin.call(Method::DELETE, &format!("/admin/v1/outbox/set-aside/{seq}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = cluster.admin.call(Method::DELETE, &format!("/admin/v1/outbox/set-aside/{seq}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = cluster.admin.call(Method::GET, "/admin/v1/outbox/set-aside", None).await;
    assert_eq!(listed["total"], 0, "{listed}");
}
