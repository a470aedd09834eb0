//! Tenant isolation: with one tenant's token, no request reads, changes, or reveals another
//! tenant's users and groups. Two tenants create the same userNames, the same group
//! displayName and the same shape (a user in a group, a report and its manager). With tenant
//! A's token, B's ids answer 404 on every endpoint exactly as ids that exist nowhere, with
//! ETags too and inside /Bulk; filters and searches (by id, userName, membership, manager,
//! anything) find only A's resources; B's ids never become members of A's groups; B's cursor
//! is refused (400 invalidCursor); the directory serves each tenant's records under its own path only; and
//! B's resources read with B's token are unchanged afterwards. The scenario runs on the three
//! services (PostgreSQL + Kafka) and on standalone (SQLite), and ends with a portal session of
//! tenant A (the self-serve portal's credential) that lists, finds and changes nothing of B's;
//! disabling a tenant leaves the other one served.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Admin, Client, Cluster, Portal, Reply, Standalone, id_of, set_of, sorted};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const SCIM_JSON: (&str, &str) = ("Content-Type", "application/scim+json");

/// One tenant's resources; both tenants create them with the same names.
struct Resources {
    user: String,
    manager: String,
    report: String,
    group: String,
}

impl Resources {
    fn users(&self) -> Vec<String> {
        set_of(&[&self.user, &self.manager, &self.report])
    }

    fn all(&self) -> Vec<String> {
        set_of(&[&self.user, &self.manager, &self.report, &self.group])
    }

    fn paths(&self) -> [String; 4] {
        [
            format!("/Users/{}", self.user),
            format!("/Users/{}", self.manager),
            format!("/Users/{}", self.report),
            format!("/Groups/{}", self.group),
        ]
    }
}

async fn request(client: &Client, method: Method, path: &str, body: Option<&Value>) -> Reply {
    match body {
        Some(body) => client.send(method, path, &[SCIM_JSON], Some(&body.to_string())).await,
        None => client.send(method, path, &[], None).await,
    }
}

async fn create(client: &Client, path: &str, body: Value) -> String {
    id_of(request(client, Method::POST, path, Some(&body)).await.expect(StatusCode::CREATED))
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn user_takeover() -> Value {
    json!({"schemas": [CORE_USER], "userName": "taken-over@example.com", "active": false})
}

fn user_deactivation() -> Value {
    patch(json!([{"op": "replace", "path": "active", "value": false}]))
}

fn group_takeover(member: &str) -> Value {
    json!({"schemas": [CORE_GROUP], "displayName": "Taken over", "members": [{"value": member}]})
}

fn group_change(member: &str) -> Value {
    patch(json!([
        {"op": "replace", "path": "displayName", "value": "Taken over"},
        {"op": "add", "path": "members", "value": [{"value": member}]}
    ]))
}

/// shared@example.com in the group "Shared group", and report@example.com whose manager is
/// manager@example.com.
async fn populate(client: &Client) -> Resources {
    let user = create(client, "/Users", json!({"schemas": [CORE_USER], "userName": "shared@example.com"})).await;
    let manager = create(client, "/Users", json!({"schemas": [CORE_USER], "userName": "manager@example.com"})).await;
    let report = create(
        client,
        "/Users",
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "userName": "report@example.com",
            ENTERPRISE: {"manager": {"value": manager}}
        }),
    )
    .await;
    let group = create(
        client,
        "/Groups",
        json!({"schemas": [CORE_GROUP], "displayName": "Shared group", "members": [{"value": user}]}),
    )
    .await;
    Resources { user, manager, report, group }
}

/// What the owner reads of its resources, to compare before and after the other tenant's
/// attempts: every attribute, `meta.version` and `meta.lastModified` included.
async fn snapshot(owner: &Client, resources: &Resources) -> Value {
    let mut bodies = Vec::new();
    for path in resources.paths() {
        bodies.push(request(owner, Method::GET, &path, None).await.expect(StatusCode::OK).clone());
    }
    Value::Array(bodies)
}

async fn assert_untouched(owner: &Client, resources: &Resources, before: &Value, after: &str) {
    let now = snapshot(owner, resources).await;
    assert!(
        now == *before,
        "after {after} with the other tenant's token, the owner reads its resources as they were:\n\
         before {before}\nnow    {now}"
    );
}

/// The ids of a ListResponse's resources, sorted.
fn ids_of(list: &Value) -> Vec<String> {
    let resources = list["Resources"].as_array().unwrap_or_else(|| panic!("a ListResponse: {list}"));
    let mut ids: Vec<String> = resources.iter().map(id_of).collect();
    ids.sort();
    ids
}

fn version_of(resource: &Value) -> String {
    resource["meta"]["version"].as_str().unwrap_or_else(|| panic!("a meta.version: {resource}")).to_owned()
}

/// The same names in both tenants are distinct resources, while a name stays unique within
/// its tenant.
async fn same_names_in_both_tenants(a: &Client, b: &Client) -> (Resources, Resources) {
    let ours = populate(a).await;
    let theirs = populate(b).await;
    assert!(
        ours.all().iter().all(|id| !theirs.all().contains(id)),
        "each tenant's resources have their own ids: A {:?}, B {:?}",
        ours.all(),
        theirs.all()
    );
    for (client, resources) in [(a, &ours), (b, &theirs)] {
        let path = format!("/Users/{}", resources.user);
        let user = request(client, Method::GET, &path, None).await.expect(StatusCode::OK).clone();
        assert_eq!(user["userName"], "shared@example.com", "{user}");
        let path = format!("/Groups/{}", resources.group);
        let group = request(client, Method::GET, &path, None).await.expect(StatusCode::OK).clone();
        assert_eq!(group["displayName"], "Shared group", "{group}");
        assert_eq!(sorted(&group["members"]), set_of(&[&resources.user]), "{path}: {group}");
    }
    let duplicate = json!({"schemas": [CORE_USER], "userName": "SHARED@example.com"});
    let reply = request(a, Method::POST, "/Users", Some(&duplicate)).await;
    assert_eq!(reply.expect_error(StatusCode::CONFLICT)["scimType"], "uniqueness", "{}", reply.text);
    (ours, theirs)
}

/// Asserts that `GET {endpoint}?filter=` (unless `endpoint` is the root) and
/// `POST {endpoint}/.search` find exactly `expected`.
async fn assert_finds(client: &Client, endpoint: &str, filter: &str, expected: &[String], why: &str) {
    let mut replies = Vec::new();
    if !endpoint.is_empty() {
        let query = reqwest::Url::parse_with_params("http://query.invalid/", [("filter", filter)]).expect("a URL");
        let path = format!("{endpoint}?{}", query.query().unwrap_or_default());
        replies.push(request(client, Method::GET, &path, None).await);
    }
    let search = json!({"schemas": [SEARCH_REQUEST], "filter": filter});
    replies.push(request(client, Method::POST, &format!("{endpoint}/.search"), Some(&search)).await);
    let mut expected = expected.to_vec();
    expected.sort();
    for reply in replies {
        let list = reply.expect(StatusCode::OK);
        assert_eq!(ids_of(list), expected, "{}\n→ {why}: {list}", reply.request);
        assert_eq!(list["totalResults"], expected.len(), "{}\n→ totalResults counts only these: {list}", reply.request);
    }
}

/// Each filter finds B's resources with B's token (so it would find them if the tenant were
/// ignored) and only A's with A's.
async fn filters_find_only_the_callers_resources(a: &Client, b: &Client, ours: &Resources, theirs: &Resources) {
    let everything = "meta.created pr".to_owned();
    let none = Vec::new();
    let cases = [
        ("/Users", format!("id eq \"{}\"", theirs.user), vec![theirs.user.clone()], none.clone()),
        ("/Users", "userName eq \"shared@example.com\"".to_owned(), vec![theirs.user.clone()], vec![ours.user.clone()]),
        ("/Users", format!("groups eq \"{}\"", theirs.group), vec![theirs.user.clone()], none.clone()),
        (
            "/Users",
            format!("{ENTERPRISE}:manager.value eq \"{}\"", theirs.manager),
            vec![theirs.report.clone()],
            none.clone(),
        ),
        ("/Users", everything.clone(), theirs.users(), ours.users()),
        ("/Groups", format!("id eq \"{}\"", theirs.group), vec![theirs.group.clone()], none.clone()),
        ("/Groups", format!("members eq \"{}\"", theirs.user), vec![theirs.group.clone()], none.clone()),
        (
            "/Groups",
            format!("id eq \"{}\" and members eq \"{}\"", theirs.group, theirs.user),
            vec![theirs.group.clone()],
            none.clone(),
        ),
        ("/Groups", "displayName eq \"Shared group\"".to_owned(), vec![theirs.group.clone()], vec![ours.group.clone()]),
        ("/Groups", everything.clone(), vec![theirs.group.clone()], vec![ours.group.clone()]),
        (
            "",
            format!("id eq \"{}\" or id eq \"{}\"", theirs.user, theirs.group),
            set_of(&[&theirs.user, &theirs.group]),
            none.clone(),
        ),
        ("", format!("members eq \"{}\"", theirs.user), vec![theirs.group.clone()], none),
        ("", everything, theirs.all(), ours.all()),
    ];
    for (endpoint, filter, owner_finds, intruder_finds) in cases {
        assert_finds(b, endpoint, &filter, &owner_finds, "the owner's token finds its resources").await;
        assert_finds(a, endpoint, &filter, &intruder_finds, "the other tenant's token finds only its own resources")
            .await;
    }
    for (endpoint, own) in [("/Users", ours.users()), ("/Groups", vec![ours.group.clone()])] {
        let reply = request(a, Method::GET, endpoint, None).await;
        let list = reply.expect(StatusCode::OK);
        assert_eq!(
            ids_of(list),
            own,
            "{}\n→ an unfiltered list holds only the caller's resources: {list}",
            reply.request
        );
    }
}

/// Every endpoint answers B's ids with the 404 it gives an id that exists nowhere, word for
/// word: A learns nothing of B's resources, not even that they exist.
async fn foreign_ids_answer_as_unknown_ids(a: &Client, ours: &Resources, theirs: &Resources) {
    let unknown = uuid::Uuid::new_v4().to_string();
    let (user_put, user_patch) = (user_takeover(), user_deactivation());
    let (group_put, group_patch) = (group_takeover(&ours.user), group_change(&ours.user));
    let requests = [
        (Method::GET, "/Users", &theirs.user, None),
        (Method::PUT, "/Users", &theirs.user, Some(&user_put)),
        (Method::PATCH, "/Users", &theirs.user, Some(&user_patch)),
        (Method::DELETE, "/Users", &theirs.user, None),
        (Method::GET, "/Groups", &theirs.group, None),
        (Method::PUT, "/Groups", &theirs.group, Some(&group_put)),
        (Method::PATCH, "/Groups", &theirs.group, Some(&group_patch)),
        (Method::DELETE, "/Groups", &theirs.group, None),
    ];
    for (method, endpoint, id, body) in requests {
        let foreign = request(a, method.clone(), &format!("{endpoint}/{id}"), body).await;
        let nowhere = request(a, method, &format!("{endpoint}/{unknown}"), body).await;
        let foreign_error = foreign.expect_error(StatusCode::NOT_FOUND).to_string().replace(id.as_str(), "<id>");
        let nowhere_error = nowhere.expect_error(StatusCode::NOT_FOUND).to_string().replace(&unknown, "<id>");
        assert_eq!(
            foreign_error, nowhere_error,
            "{}\n→ the other tenant's id answers exactly as an id that exists nowhere",
            foreign.request
        );
    }
}

/// Conditional requests with B's ETags answer 404: neither 304 (If-None-Match) nor 412
/// (If-Match) tells A that the resource exists or what its version is.
async fn etags_of_foreign_resources_answer_404(a: &Client, ours: &Resources, theirs: &Resources, before: &Value) {
    let cases = [
        (format!("/Users/{}", theirs.user), version_of(&before[0]), user_takeover(), user_deactivation()),
        (
            format!("/Groups/{}", theirs.group),
            version_of(&before[3]),
            group_takeover(&ours.user),
            group_change(&ours.user),
        ),
    ];
    for (path, version, put, change) in &cases {
        let reply = a.send(Method::GET, path, &[("If-None-Match", version)], None).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{} with If-None-Match {version}: {}",
            reply.request,
            reply.text
        );
        reply.expect_error(StatusCode::NOT_FOUND);
        for if_match in [version.as_str(), "W/\"999\""] {
            for (method, body) in [(Method::PUT, Some(put)), (Method::PATCH, Some(change)), (Method::DELETE, None)] {
                let text = body.map(Value::to_string);
                let reply = a.send(method, path, &[SCIM_JSON, ("If-Match", if_match)], text.as_deref()).await;
                assert_eq!(
                    reply.status,
                    StatusCode::NOT_FOUND,
                    "{} with If-Match {if_match}: {}",
                    reply.request,
                    reply.text
                );
                reply.expect_error(StatusCode::NOT_FOUND);
            }
        }
    }
}

/// A /Bulk request of A's naming B's resources: every operation is 404.
async fn bulk_operations_on_foreign_ids_answer_404(a: &Client, ours: &Resources, theirs: &Resources, before: &Value) {
    let user = format!("/Users/{}", theirs.user);
    let group = format!("/Groups/{}", theirs.group);
    let operations = json!([
        {"method": "PUT", "path": user, "version": version_of(&before[0]), "data": user_takeover()},
        {"method": "PATCH", "path": user, "data": user_deactivation()},
        {"method": "DELETE", "path": user},
        {"method": "PUT", "path": group, "data": group_takeover(&ours.user)},
        {"method": "PATCH", "path": group, "version": version_of(&before[3]), "data": group_change(&ours.user)},
        {"method": "DELETE", "path": group}
    ]);
    let reply =
        request(a, Method::POST, "/Bulk", Some(&json!({"schemas": [BULK_REQUEST], "Operations": operations}))).await;
    let response = reply.expect(StatusCode::OK);
    let outcomes: Vec<(String, Value, Value)> = response["Operations"]
        .as_array()
        .unwrap_or_else(|| panic!("a BulkResponse: {response}"))
        .iter()
        .map(|o| {
            (
                o["method"].as_str().unwrap_or_default().to_ascii_uppercase(),
                o["status"].clone(),
                o["response"]["status"].clone(),
            )
        })
        .collect();
    let expected: Vec<(String, Value, Value)> = ["PUT", "PATCH", "DELETE", "PUT", "PATCH", "DELETE"]
        .iter()
        .map(|method| ((*method).to_owned(), json!("404"), json!("404")))
        .collect();
    assert_eq!(
        outcomes, expected,
        "{}\n→ every operation on the other tenant's resources is 404: {response}",
        reply.request
    );
}

/// B's ids sent as members of A's groups (create, PATCH add, PUT) are left out, as unknown
/// ids are (groups.rs `known_users`): the requests succeed and A's groups never list them.
async fn foreign_ids_never_become_members(a: &Client, b: &Client, ours: &Resources, theirs: &Resources) {
    let borrowing = json!({
        "schemas": [CORE_GROUP],
        "displayName": "Borrowed",
        "members": [{"value": ours.user}, {"value": theirs.user}]
    });
    let reply = request(a, Method::POST, "/Groups", Some(&borrowing)).await;
    let created = reply.expect(StatusCode::CREATED);
    assert_eq!(
        sorted(&created["members"]),
        set_of(&[&ours.user]),
        "{}\n→ only A's user is a member: {created}",
        reply.request
    );
    let borrowed = id_of(created);
    let reply = request(a, Method::GET, &format!("/Groups/{borrowed}"), None).await;
    let read = reply.expect(StatusCode::OK);
    assert_eq!(sorted(&read["members"]), set_of(&[&ours.user]), "{}: {read}", reply.request);

    let path = format!("/Groups/{}", ours.group);
    let before = request(a, Method::GET, &path, None).await.expect(StatusCode::OK).clone();
    let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": theirs.user}]}]));
    request(a, Method::PATCH, &path, Some(&add)).await.expect(StatusCode::NO_CONTENT);
    let reply = request(a, Method::GET, &path, None).await;
    let after = reply.expect(StatusCode::OK);
    assert_eq!(sorted(&after["members"]), set_of(&[&ours.user]), "{}: {after}", reply.request);
    assert_eq!(
        after["meta"]["version"], before["meta"]["version"],
        "adding only an unknown id changes nothing: {after}"
    );

    let replacing = json!({"schemas": [CORE_GROUP], "displayName": "Borrowed", "members": [{"value": theirs.user}]});
    let reply = request(a, Method::PUT, &format!("/Groups/{borrowed}"), Some(&replacing)).await;
    let replaced = reply.expect(StatusCode::OK);
    assert_eq!(sorted(&replaced["members"]), Vec::<String>::new(), "{}\n→ no members: {replaced}", reply.request);

    let their_user = format!("members eq \"{}\"", theirs.user);
    assert_finds(a, "/Groups", &their_user, &[], "no group of A's has B's user").await;
    assert_finds(b, "/Groups", &their_user, std::slice::from_ref(&theirs.group), "B's user is only in B's group").await;
}

/// A cursor is signed for its tenant and query (cursor.rs): B's nextCursor, sent with A's
/// token, is refused as an invalid cursor, while A's own cursor pages A's list.
async fn foreign_cursors_are_refused(a: &Client, b: &Client, ours: &Resources, theirs: &Resources) {
    let next_cursor = |client: &'static str, page: &Value| {
        page["nextCursor"].as_str().unwrap_or_else(|| panic!("{client}: a nextCursor: {page}")).to_owned()
    };
    let first = "/Users?count=1&cursor=";
    let their_first = request(b, Method::GET, first, None).await.expect(StatusCode::OK).clone();
    let their_cursor = next_cursor("B", &their_first);
    let our_first = request(a, Method::GET, first, None).await.expect(StatusCode::OK).clone();
    let our_cursor = next_cursor("A", &our_first);

    let reply = request(a, Method::GET, &format!("/Users?count=1&cursor={their_cursor}"), None).await;
    let error = reply.expect_error(StatusCode::BAD_REQUEST);
    assert_eq!(error["scimType"], "invalidCursor", "{}", reply.text);
    assert!(!theirs.all().iter().any(|id| reply.text.contains(id.as_str())), "{}\n→ none of B's ids", reply.text);

    let own = request(a, Method::GET, &format!("/Users?count=1&cursor={our_cursor}"), None).await;
    let page = own.expect(StatusCode::OK);
    let found = ids_of(page);
    assert_eq!(found.len(), 1, "{}\n→ A's second page: {page}", own.request);
    assert!(found.iter().all(|id| ours.users().contains(id)), "{}\n→ only A's users: {page}", own.request);
    let theirs_again = request(b, Method::GET, &format!("/Users?count=1&cursor={their_cursor}"), None).await;
    assert!(ids_of(theirs_again.expect(StatusCode::OK)).iter().all(|id| theirs.users().contains(id)));
}

/// The directory serves B's records under B's path only.
async fn the_directory_keeps_tenants_apart(a: &Client, b: &Client, ours: &Resources, theirs: &Resources) {
    for (kind, mine, other) in [("accounts", &ours.user, &theirs.user), ("teams", &ours.group, &theirs.group)] {
        b.directory_until(kind, other, "B's record in B's directory", |status, _| status == StatusCode::OK).await;
        a.directory_until(kind, mine, "A's record in A's directory", |status, _| status == StatusCode::OK).await;
        let (status, body) = a.directory(kind, other).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{kind}/{other} under A's path: {body}");
    }
    let account = b
        .directory_until("accounts", &theirs.user, "B's account as created", |_, body| {
            body["teams"] == json!([theirs.group])
        })
        .await;
    assert_eq!(account["user_name"], "shared@example.com", "{account}");
}

/// With a portal session of tenant A (the self-serve portal's only credential), nothing of B is
/// listed, found in the log, or changed: B's group and tokens answer 404 as unknown ids do.
async fn a_portal_session_sees_and_changes_nothing_of_b(
    portal: &Portal,
    admin: &Admin,
    a: &Client,
    b: &Client,
    ours: &Resources,
    theirs: &Resources,
) {
    let (status, overview) = portal.call(Method::GET, "/overview", None).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["tenant"]["slug"], a.endpoints.tenant.as_str(), "{overview}");
    let scim_ids = |reply: &Value| -> Vec<String> {
        let mut ids: Vec<String> = reply["Resources"].as_array().unwrap().iter().map(id_of).collect();
        ids.sort();
        ids
    };
    let a_users = scim_ids(request(a, Method::GET, "/Users?count=200", None).await.expect(StatusCode::OK));
    let a_groups = scim_ids(
        request(a, Method::GET, "/Groups?count=200&excludedAttributes=members", None).await.expect(StatusCode::OK),
    );
    assert!(a_users.contains(&ours.user) && a_groups.contains(&ours.group));
    assert_eq!(overview["counts"]["users"], a_users.len(), "A's users, not B's: {overview}");
    let (_, users) = portal.call(Method::GET, "/users?count=100", None).await;
    let mut listed: Vec<String> = users["users"].as_array().unwrap().iter().map(id_of).collect();
    listed.sort();
    assert_eq!(listed, a_users, "{users}");
    let (_, found) = portal.call(Method::GET, "/users?search=shared@example.com", None).await;
    let found_ids: Vec<String> = found["users"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(
        found_ids,
        std::slice::from_ref(&ours.user),
        "the same userName in both tenants: only A's found: {found}"
    );
    let (_, groups) = portal.call(Method::GET, "/groups?count=100", None).await;
    let mut listed: Vec<String> = groups["groups"].as_array().unwrap().iter().map(id_of).collect();
    listed.sort();
    assert_eq!(listed, a_groups, "{groups}");
    assert!(!listed.contains(&theirs.group));
    // The log holds A's requests only (some of them named B's ids, and failed).
    let token_ids = |tokens: &Value| -> Vec<String> {
        tokens["tokens"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str().map(str::to_owned)).collect()
    };
    let (_, a_tokens) =
        admin.call(Method::GET, &format!("/admin/v1/tenants/{}/tokens", a.endpoints.tenant), None).await;
    let a_tokens = token_ids(&a_tokens);
    let theirs_all = theirs.all();
    let mut before: Option<i64> = None;
    let mut entries = 0;
    loop {
        let query = before.map_or_else(|| "/log?limit=200".to_owned(), |id| format!("/log?limit=200&before={id}"));
        let (_, page) = portal.call(Method::GET, &query, None).await;
        for entry in page["entries"].as_array().unwrap() {
            entries += 1;
            assert!(
                entry["token_id"].as_str().is_some_and(|id| a_tokens.contains(&id.to_owned())),
                "not A's request: {entry}"
            );
            let on_theirs = entry["resource_id"].as_str().is_some_and(|id| theirs_all.contains(&id.to_owned()));
            assert!(!(on_theirs && entry["status"].as_i64() < Some(400)), "A succeeded on B's resource: {entry}");
        }
        match page["next"].as_i64() {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert!(entries > 0, "A's requests are in A's log");
    let (status, unknown) =
        portal.call(Method::PUT, "/groups/no-such-group/permissions", Some(json!({"permissions": ["admin"]}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    let (status, foreign) = portal
        .call(Method::PUT, &format!("/groups/{}/permissions", theirs.group), Some(json!({"permissions": ["admin"]})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "B's group is as unknown as one that exists nowhere: {foreign}");
    assert_eq!(
        foreign["detail"].as_str().map(|d| d.replace(&theirs.group, "ID")),
        unknown["detail"].as_str().map(|d| d.replace("no-such-group", "ID")),
    );
    let b_slug = &b.endpoints.tenant;
    let (_, stored) = admin.call(Method::GET, &format!("/admin/v1/tenants/{b_slug}/group-permissions"), None).await;
    assert_eq!(stored["group_permissions"], json!({}), "B's permissions unchanged: {stored}");

    let (_, tokens) = admin.call(Method::GET, &format!("/admin/v1/tenants/{b_slug}/tokens"), None).await;
    assert!(token_ids(&tokens).iter().all(|id| !a_tokens.contains(id)));
    for token in tokens["tokens"].as_array().unwrap() {
        let id = token["id"].as_str().unwrap();
        for (method, path) in [
            (Method::DELETE, format!("/tokens/{id}")),
            (Method::POST, format!("/tokens/{id}/rotate")),
            (Method::POST, format!("/tokens/{id}/rotate/complete")),
            (Method::POST, format!("/tokens/{id}/rotate/cancel")),
        ] {
            let (status, body) = portal.call(method.clone(), &path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path} on B's token: {body}");
        }
    }
    let (_, after) = admin.call(Method::GET, &format!("/admin/v1/tenants/{b_slug}/tokens"), None).await;
    assert_eq!(after, tokens, "B's tokens unchanged");
    let (_, listed) = portal.call(Method::GET, "/tokens", None).await;
    let b_ids: Vec<&Value> = tokens["tokens"].as_array().unwrap().iter().map(|t| &t["id"]).collect();
    assert!(listed["tokens"].as_array().unwrap().iter().all(|t| !b_ids.contains(&&t["id"])), "{listed}");
}

/// The whole scenario between tenant `a`, the intruder, and tenant `b`.
async fn tenants_share_names_but_never_resources(a: &Client, b: &Client, admin: &Admin, portal_url: &str) {
    let (ours, theirs) = same_names_in_both_tenants(a, b).await;
    let before = snapshot(b, &theirs).await;
    filters_find_only_the_callers_resources(a, b, &ours, &theirs).await;
    foreign_ids_answer_as_unknown_ids(a, &ours, &theirs).await;
    assert_untouched(b, &theirs, &before, "requests on B's ids").await;
    etags_of_foreign_resources_answer_404(a, &ours, &theirs, &before).await;
    assert_untouched(b, &theirs, &before, "conditional requests on B's ids").await;
    bulk_operations_on_foreign_ids_answer_404(a, &ours, &theirs, &before).await;
    assert_untouched(b, &theirs, &before, "a /Bulk request on B's ids").await;
    foreign_ids_never_become_members(a, b, &ours, &theirs).await;
    assert_untouched(b, &theirs, &before, "B's user sent as a member").await;
    foreign_cursors_are_refused(a, b, &ours, &theirs).await;
    the_directory_keeps_tenants_apart(a, b, &ours, &theirs).await;
    let (portal, _) = Portal::open(admin, portal_url, &a.endpoints.tenant).await;
    a_portal_session_sees_and_changes_nothing_of_b(&portal, admin, a, b, &ours, &theirs).await;
    assert_untouched(b, &theirs, &before, "the whole scenario").await;
}

async fn tenant_b(admin: &crate::support::Admin, a: &Client, scim_url: &str) -> Client {
    admin.tenant_client("tenant-b", scim_url, &a.endpoints.directory).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_isolation_through_grpc_postgres_and_kafka() {
    let cluster = Cluster::start().await;
    let b = tenant_b(&cluster.admin, &cluster.client, &cluster.gateways[0]).await;
    tenants_share_names_but_never_resources(&cluster.client, &b, &cluster.admin, &cluster.portal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_isolation_on_standalone() {
    let standalone = Standalone::start().await;
    let b = tenant_b(&standalone.admin, &standalone.client, &standalone.client.endpoints.scim).await;
    tenants_share_names_but_never_resources(&standalone.client, &b, &standalone.admin, &standalone.portal).await;
}

/// Disabling tenant B shuts out B's token and nothing of A's: A reads, searches, writes, and
/// its changes reach the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_tenant_leaves_the_other_served() {
    let cluster = Cluster::start().await;
    let a = &cluster.client;
    let b = tenant_b(&cluster.admin, a, &cluster.gateways[0]).await;
    let ours = create(a, "/Users", json!({"schemas": [CORE_USER], "userName": "shared@example.com"})).await;
    let theirs = create(&b, "/Users", json!({"schemas": [CORE_USER], "userName": "shared@example.com"})).await;
    let their_user = request(&b, Method::GET, &format!("/Users/{theirs}"), None).await.expect(StatusCode::OK).clone();

    let (status, tenant) = cluster.admin.call(Method::POST, "/admin/v1/tenants/tenant-b/disable", None).await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["disabled"], true, "{tenant}");
    let reply = request(&b, Method::GET, &format!("/Users/{theirs}"), None).await;
    reply.expect_error(StatusCode::UNAUTHORIZED);

    let reply = request(a, Method::GET, &format!("/Users/{ours}"), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["userName"], "shared@example.com", "{}", reply.text);
    assert_finds(a, "/Users", "userName eq \"shared@example.com\"", std::slice::from_ref(&ours), "A is served").await;
    let added = create(a, "/Users", json!({"schemas": [CORE_USER], "userName": "added@example.com"})).await;
    let reply = request(a, Method::PATCH, &format!("/Users/{ours}"), Some(&user_deactivation())).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], false, "{}", reply.text);
    a.directory_until("accounts", &added, "A's new account", |status, _| status == StatusCode::OK).await;
    a.directory_until("accounts", &ours, "A's account deactivated", |_, body| body["active"] == false).await;

    let (status, tenant) = cluster.admin.call(Method::POST, "/admin/v1/tenants/tenant-b/enable", None).await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    let reply = request(&b, Method::GET, &format!("/Users/{theirs}"), None).await;
    let user = reply.expect(StatusCode::OK);
    assert!(*user == their_user, "B, enabled again, finds its user as it was: before {their_user}\nnow {user}");
}
