//! Microsoft Entra ID, replayed: the requests its provisioning client sends (idp-clients.md §1),
//! in both PATCH dialects (the default one and `aadOptscim062020`), with the default attribute
//! mappings, checked at the SCIM API and in the directory. Also the transport details, status
//! codes and stale member ids every IdP relies on.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Cluster, Reply, Standalone, eventually, id_of, set_of, sorted};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ADSCIM_GROUP: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A request as Entra sends it: bodies as `application/scim+json; charset=utf-8`, no SCIM
/// Accept header (reqwest's `*/*`).
async fn entra(client: &Client, method: Method, path: &str, body: Option<Value>) -> Reply {
    let text = body.map(|b| b.to_string());
    let headers: &[(&str, &str)] =
        if text.is_some() { &[("Content-Type", "application/scim+json; charset=utf-8")] } else { &[] };
    client.send(method, path, headers, text.as_deref()).await
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// MS-Tutorial's "Create User" body.
fn entra_user(user_name: &str, external_id: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{given} {family}"), "familyName": family, "givenName": given},
        "roles": []
    })
}

/// MS-Tutorial's "Create Group" body: no members, Microsoft's ADSCIM URN in `schemas`.
fn entra_group(display_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": [CORE_GROUP, ADSCIM_GROUP],
        "externalId": external_id,
        "displayName": display_name,
        "meta": {"resourceType": "Group"}
    })
}

/// POSTs a user as Entra does; returns its id after checking the 201.
async fn create_user(client: &Client, user_name: &str, external_id: &str) -> String {
    let (given, family) = user_name.split_once('@').map_or((user_name, "User"), |(local, _)| (local, "User"));
    let reply = entra(client, Method::POST, "/Users", Some(entra_user(user_name, external_id, given, family))).await;
    let created = reply.expect(StatusCode::CREATED);
    let id = id_of(created);
    let location = created["meta"]["location"].as_str().unwrap_or_default();
    assert!(location.ends_with(&format!("/Users/{id}")), "meta.location: {created}");
    assert_eq!(reply.location.as_deref(), Some(location), "the Location header is meta.location");
    id
}

async fn create_group(client: &Client, display_name: &str, external_id: &str) -> String {
    let reply = entra(client, Method::POST, "/Groups", Some(entra_group(display_name, external_id))).await;
    id_of(reply.expect(StatusCode::CREATED))
}

async fn account_until(client: &Client, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    client.directory_until("accounts", id, what, |status, body| status == StatusCode::OK && check(body)).await
}

async fn team_until(client: &Client, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    client.directory_until("teams", id, what, |status, body| status == StatusCode::OK && check(body)).await
}

/// Test Connection: a random GUID as userName, without a SCIM Accept header → 200 and an
/// empty ListResponse (a 404 quarantines the job, a 400 or 406 fails the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_test_connection() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    // A user exists: an empty answer then means the filter was applied.
    create_user(client, "adele.vance@contoso.com", "adelev").await;
    create_group(client, "All Company", "1b2c").await;

    let guid = uuid::Uuid::new_v4();
    let reply = client.get_without_accept(&format!("/Users?filter=userName+eq+%22{guid}%22")).await;
    let list = reply.expect(StatusCode::OK);
    assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(list["totalResults"], 0);
    assert_eq!(list["Resources"], json!([]));
    assert_eq!(list["startIndex"], 1);
    assert!(list["itemsPerPage"].is_u64(), "itemsPerPage is a JSON integer: {list}");

    // The same request finds the user that exists, in any case.
    let reply = client.get_without_accept("/Users?filter=userName+eq+%22Adele.Vance%40contoso.com%22").await;
    let list = reply.expect(StatusCode::OK);
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["userName"], "adele.vance@contoso.com");

    // "a random user and group": the group side answers the same way.
    let reply = client.get_without_accept(&format!("/Groups?filter=displayName+eq+%22{guid}%22")).await;
    let list = reply.expect(StatusCode::OK);
    assert_eq!((list["totalResults"].clone(), list["Resources"].clone()), (json!(0), json!([])), "{list}");
}

/// The default dialect on users: capitalized ops, one op per attribute, string booleans,
/// filtered paths that create the element they name, single-valued `Add`, renames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_default_dialect_updates_users() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let id = create_user(client, "Test_User_1@contoso.com", "testuser1").await;
    let path = format!("/Users/{id}");

    // "Replace several attributes": one operation per attribute (MS-Compat).
    let operations = json!([
        {"op": "Replace", "path": "displayName", "value": "Tess Tuser"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "tess.tuser@contoso.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Tess"},
        {"op": "Replace", "path": "name.familyName", "value": "Tuser"},
        {"op": "Replace", "path": "externalId", "value": "tesst"},
        {"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "701984"}
    ]);
    let reply = entra(client, Method::PATCH, &path, Some(patch(operations))).await;
    let user = reply.expect(StatusCode::OK);
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user["displayName"], "Tess Tuser");
    assert_eq!(user["emails"], json!([{"primary": true, "type": "work", "value": "tess.tuser@contoso.com"}]));
    assert_eq!(user["name"]["givenName"], "Tess");
    assert_eq!(user["name"]["familyName"], "Tuser");
    assert_eq!(user["externalId"], "tesst");
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "701984");
    let account = account_until(client, &id, "the replaced attributes", |a| a["display_name"] == "Tess Tuser").await;
    assert_eq!(account["email"], "tess.tuser@contoso.com");
    assert_eq!(account["given_name"], "Tess");
    assert_eq!(account["family_name"], "Tuser");
    assert_eq!(account["external_id"], "tesst");

    // Filtered paths whose element does not exist yet create it (MS validator, real traffic);
    // sub-attribute names in any case (`Value`, as in Microsoft's mapping table).
    let operations = json!([
        {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "Building 7, Redmond"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 (425) 555-0101"},
        {"op": "Add", "path": "emails[type eq \"other\"].Value", "value": "tess@fabrikam.com"},
        {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Tailspin Toys"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "Add", "path": "title", "value": "Engineer"}
    ]);
    let reply = entra(client, Method::PATCH, &path, Some(patch(operations))).await;
    let user = reply.expect(StatusCode::OK);
    assert_eq!(user["addresses"], json!([{"type": "work", "formatted": "Building 7, Redmond"}]));
    assert_eq!(user["phoneNumbers"], json!([{"type": "mobile", "value": "+1 (425) 555-0101"}]), "kept as sent");
    assert_eq!(
        user["emails"],
        json!([
            {"primary": true, "type": "work", "value": "tess.tuser@contoso.com"},
            {"type": "other", "value": "tess@fabrikam.com"}
        ])
    );
    assert_eq!(user[ENTERPRISE], json!({"employeeNumber": "701984", "department": "Tailspin Toys"}));
    assert_eq!(user["nickName"], "Babs");
    assert_eq!(user["title"], "Engineer");
    // An add through a filter that matches changes that element: no second mobile number.
    let operations =
        json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 425 555 0199"}]);
    let reply = entra(client, Method::PATCH, &path, Some(patch(operations))).await;
    assert_eq!(reply.expect(StatusCode::OK)["phoneNumbers"], json!([{"type": "mobile", "value": "+1 425 555 0199"}]));
    let account = account_until(client, &id, "the other email", |a| a["email"] == "tess.tuser@contoso.com").await;
    assert_eq!(account["display_name"], "Tess Tuser", "the primary work email stays the account's email");

    // Disable with the string "False", enable with "True": real booleans come back.
    let disable = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let reply = entra(client, Method::PATCH, &path, Some(disable)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], json!(false));
    let reply = entra(client, Method::GET, &path, None).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], json!(false), "a disabled user still answers GET");
    account_until(client, &id, "the account disabled", |a| a["active"] == false).await;
    let enable = patch(json!([{"op": "Replace", "path": "active", "value": "True"}]));
    let reply = entra(client, Method::PATCH, &path, Some(enable)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], json!(true));
    account_until(client, &id, "the account enabled", |a| a["active"] == true).await;
    // The tutorial's own "Disable User" sample: "Replace" with a real boolean.
    let disable = patch(json!([{"op": "Replace", "path": "active", "value": false}]));
    let reply = entra(client, Method::PATCH, &path, Some(disable)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], json!(false));
    account_until(client, &id, "the account disabled again", |a| a["active"] == false).await;

    // Renaming through userName: a collision is 409 uniqueness, case-insensitively.
    create_user(client, "Other.User@contoso.com", "otheru").await;
    let collide = patch(json!([{"op": "Replace", "path": "userName", "value": "other.user@CONTOSO.com"}]));
    let reply = entra(client, Method::PATCH, &path, Some(collide)).await;
    assert_eq!(reply.expect_error(StatusCode::CONFLICT)["scimType"], "uniqueness");
    let rename = patch(json!([{"op": "Replace", "path": "userName", "value": "tess.tuser@contoso.com"}]));
    let reply = entra(client, Method::PATCH, &path, Some(rename)).await;
    assert_eq!(reply.expect(StatusCode::OK)["userName"], "tess.tuser@contoso.com");
    account_until(client, &id, "the account renamed", |a| a["user_name"] == "tess.tuser@contoso.com").await;

    // What GET returns is what was written, nothing lost across the PATCHes.
    let reply = entra(client, Method::GET, &path, None).await;
    let user = reply.expect(StatusCode::OK);
    assert_eq!(user["nickName"], "Babs");
    assert_eq!(user["addresses"][0]["formatted"], "Building 7, Redmond");
    assert_eq!(user["name"]["formatted"], "Test_User_1 User", "the PATCHes left name.formatted alone");
}

/// The enterprise manager, in each form Entra sends it: a bare id (real traffic), `{value}`,
/// MS-Tutorial's one-element list with `$ref`, and `""` to clear it; and as a bare id in a POST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_default_dialect_manager() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let employee = create_user(client, "employee@contoso.com", "employee").await;
    let boss = create_user(client, "boss@contoso.com", "boss").await;
    let big_boss = create_user(client, "big.boss@contoso.com", "bigboss").await;
    let path = format!("/Users/{employee}");
    let set_department = patch(json!([{"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]));
    entra(client, Method::PATCH, &path, Some(set_department)).await.expect(StatusCode::OK);

    let bare = patch(json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": boss}]));
    let reply = entra(client, Method::PATCH, &path, Some(bare)).await;
    let user = reply.expect(StatusCode::OK);
    assert_eq!(user[ENTERPRISE]["manager"]["value"], boss.as_str(), "{user}");
    assert_eq!(user[ENTERPRISE]["department"], "Sales");
    // The reference check Entra runs before updating the manager.
    let check = |manager: &str| format!("/Users?filter=id+eq+%22{employee}%22+and+manager+eq+%22{manager}%22");
    let reply = entra(client, Method::GET, &check(&boss), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["totalResults"], 1);

    let object =
        patch(json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": big_boss}}]));
    let reply = entra(client, Method::PATCH, &path, Some(object)).await;
    assert_eq!(reply.expect(StatusCode::OK)[ENTERPRISE]["manager"]["value"], big_boss.as_str());
    let reply = entra(client, Method::GET, &check(&boss), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["totalResults"], 0, "the old manager no longer matches");

    let listed = patch(json!([{"op": "Add", "path": "manager", "value": [
        {"$ref": format!("{}/Users/{boss}", client.endpoints.scim), "value": boss}
    ]}]));
    let reply = entra(client, Method::PATCH, &path, Some(listed)).await;
    let user = reply.expect(StatusCode::OK);
    assert_eq!(user[ENTERPRISE]["manager"]["value"], boss.as_str(), "{user}");
    assert!(user.get("manager").is_none(), "an unqualified manager is the enterprise one: {user}");

    let clear = patch(json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": ""}]));
    let reply = entra(client, Method::PATCH, &path, Some(clear)).await;
    let user = reply.expect(StatusCode::OK);
    assert!(user[ENTERPRISE].get("manager").is_none(), "\"\" clears the manager: {user}");
    assert_eq!(user[ENTERPRISE]["department"], "Sales", "and only the manager");
    let reply = entra(client, Method::GET, &check(&boss), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["totalResults"], 0);

    // A manager as a bare id in a POST body.
    let mut body = entra_user("report@contoso.com", "report", "Re", "Port");
    body[ENTERPRISE] = json!({"manager": boss, "department": "Sales"});
    let reply = entra(client, Method::POST, "/Users", Some(body)).await;
    let user = reply.expect(StatusCode::CREATED);
    assert_eq!(user[ENTERPRISE]["manager"]["value"], boss.as_str(), "{user}");
}

/// App roles (MS-Attr, "Provisioning a role to a SCIM app"): SingleAppRoleAssignment through
/// `roles[primary eq "True"].value|display|type`, AssertiveAppRoleAssignmentsComplex replacing
/// the whole set, and the default dialect's role values serialized as JSON inside a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_default_dialect_roles() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let id = create_user(client, "roles@contoso.com", "roles").await;
    let path = format!("/Users/{id}");

    // The validator's SingleAppRoleAssignment paths: the element is created, then completed.
    let operations = json!([
        {"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"},
        {"op": "Add", "path": "roles[primary eq \"True\"].display", "value": "Administrator"},
        {"op": "Add", "path": "roles[primary eq \"True\"].type", "value": "WindowsAzureActiveDirectoryRole"}
    ]);
    let reply = entra(client, Method::PATCH, &path, Some(patch(operations))).await;
    let expected = json!([{
        "primary": true, "value": "Admin", "display": "Administrator", "type": "WindowsAzureActiveDirectoryRole"
    }]);
    assert_eq!(reply.expect(StatusCode::OK)["roles"], expected);
    account_until(client, &id, "the Admin role", |a| a["roles"] == json!(["Admin"])).await;
    let operations = json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Writer"}]);
    let reply = entra(client, Method::PATCH, &path, Some(patch(operations))).await;
    let roles = &reply.expect(StatusCode::OK)["roles"];
    assert_eq!(roles.as_array().map(Vec::len), Some(1), "{roles}");
    assert_eq!((roles[0]["value"].as_str(), roles[0]["display"].as_str()), (Some("Writer"), Some("Administrator")));
    account_until(client, &id, "the Writer role", |a| a["roles"] == json!(["Writer"])).await;

    // SingleAppRoleAssignment in a POST body.
    let mut body = entra_user("single.role@contoso.com", "singlerole", "Single", "Role");
    body["roles"] = json!([{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]);
    let reply = entra(client, Method::POST, "/Users", Some(body)).await;
    let single = id_of(reply.expect(StatusCode::CREATED));
    account_until(client, &single, "the Admin role from the POST", |a| a["roles"] == json!(["Admin"])).await;

    // AssertiveAppRoleAssignmentsComplex: replace of the whole role set, with real objects.
    let operations = json!([{"op": "replace", "path": "roles", "value": [
        {"primary": false, "value": "Reader", "display": "Reader"},
        {"primary": false, "value": "Auditor", "display": "Auditor"}
    ]}]);
    let reply = entra(client, Method::PATCH, &path, Some(patch(operations))).await;
    assert_eq!(sorted(&reply.expect(StatusCode::OK)["roles"]), set_of(&["Auditor", "Reader"]));
    let account = account_until(client, &id, "the asserted role set", |a| sorted(&a["roles"]).len() == 2).await;
    assert_eq!(sorted(&account["roles"]), set_of(&["Auditor", "Reader"]), "Writer is gone");

    // The default dialect's role PATCH: the app role as JSON serialized into the value string
    // (SingleAppRoleAssignment), then AppRoleAssignmentsComplex adding several, all re-sent on
    // the next cycle (Entra only adds). SCIM keeps the values as sent (Entra compares them with
    // its source); the account gets the app roles' values.
    let json_role = |id: &str, value: &str, name: &str| {
        let role = json!({"id": id, "value": value, "displayName": name});
        json!({"value": role.to_string()})
    };
    let role_25 = json_role("06b07648-ecfe-589f-9d2f-6325724a46ee", "25", "Role1234");
    let reader = json_role("5e3c9f7d-1d0b-4a55-8f4d-2f7a6b1c0e01", "Reader", "Reader");
    let approver = json_role("9a1d2c3b-7e6f-4a1b-8c2d-3e4f5a6b7c8d", "Approver", "Approver");
    let plain = create_user(client, "json.roles@contoso.com", "jsonroles").await;
    let single = patch(json!([{"op": "Add", "path": "roles", "value": [role_25]}]));
    let reply = entra(client, Method::PATCH, &format!("/Users/{plain}"), Some(single)).await;
    assert_eq!(reply.expect(StatusCode::OK)["roles"], json!([role_25]));
    account_until(client, &plain, "role 25", |a| a["roles"] == json!(["25"])).await;
    let complex = patch(json!([{"op": "Add", "path": "roles", "value": [reader, approver]}]));
    for _ in 0..2 {
        let reply = entra(client, Method::PATCH, &format!("/Users/{plain}"), Some(complex.clone())).await;
        assert_eq!(reply.expect(StatusCode::OK)["roles"], json!([role_25, reader, approver]), "each added once");
    }
    let account = account_until(client, &plain, "three roles", |a| sorted(&a["roles"]).len() >= 3).await;
    assert_eq!(sorted(&account["roles"]), set_of(&["25", "Approver", "Reader"]));
    // The assertive mode then replaces them all.
    let only_reader = json!([{"primary": false, "value": "Reader", "display": "Reader"}]);
    let assertive = patch(json!([{"op": "replace", "path": "roles", "value": only_reader}]));
    let reply = entra(client, Method::PATCH, &format!("/Users/{plain}"), Some(assertive)).await;
    assert_eq!(reply.expect(StatusCode::OK)["roles"], only_reader);
    account_until(client, &plain, "only Reader", |a| a["roles"] == json!(["Reader"])).await;
}

/// Groups in the default dialect: created with the ADSCIM URN and no members, members added by
/// the batch with `"$ref": null`, renamed, `Add` of externalId, `Remove` of `members` with a
/// value list removing only those, memberships kept across a disable, deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_default_dialect_groups() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let mut users = Vec::new();
    for name in ["u1", "u2", "u3", "u4"] {
        users.push(create_user(client, &format!("{name}@contoso.com"), name).await);
    }
    let [u1, u2, u3, u4] = [&users[0], &users[1], &users[2], &users[3]].map(String::as_str);

    let reply = entra(client, Method::POST, "/Groups", Some(entra_group("EDU All personal", "8aa1a0c0-c4c3"))).await;
    let group = reply.expect(StatusCode::CREATED);
    let id = id_of(group);
    assert_eq!(group["displayName"], "EDU All personal");
    assert_eq!(group["externalId"], "8aa1a0c0-c4c3");
    assert!(group["members"].as_array().is_none_or(Vec::is_empty), "{group}");
    assert_eq!(reply.location.as_deref(), group["meta"]["location"].as_str());
    let team = team_until(client, &id, "the team", |_| true).await;
    assert_eq!(team["name"], "EDU All personal");
    assert_eq!(team["external_id"], "8aa1a0c0-c4c3");
    assert_eq!(team["members"], json!([]));

    let path = format!("/Groups/{id}");
    let add = patch(json!([{"op": "Add", "path": "members", "value": [
        {"$ref": null, "value": u1}, {"$ref": null, "value": u2}, {"$ref": null, "value": u3}
    ]}]));
    let reply = entra(client, Method::PATCH, &path, Some(add)).await;
    reply.expect(StatusCode::NO_CONTENT);
    let team = team_until(client, &id, "three members", |t| sorted(&t["members"]).len() == 3).await;
    assert_eq!(sorted(&team["members"]), set_of(&[u1, u2, u3]));
    account_until(client, u1, "u1 in the team", |a| a["teams"] == json!([id])).await;
    // Adding a member who is already there, with a new one, succeeds.
    let add = patch(
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u4}]}]),
    );
    entra(client, Method::PATCH, &path, Some(add)).await.expect(StatusCode::NO_CONTENT);
    team_until(client, &id, "four members", |t| sorted(&t["members"]) == set_of(&[u1, u2, u3, u4])).await;

    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "EDU All staff"}]));
    entra(client, Method::PATCH, &path, Some(rename)).await.expect(StatusCode::NO_CONTENT);
    let external_id = patch(json!([{"op": "Add", "path": "externalId", "value": "1f0e-object-id"}]));
    entra(client, Method::PATCH, &path, Some(external_id)).await.expect(StatusCode::NO_CONTENT);
    // Two PATCHes, two events: wait for the second.
    let team = team_until(client, &id, "the renamed team with its externalId", |t| {
        t["name"] == "EDU All staff" && t["external_id"] == "1f0e-object-id"
    })
    .await;
    assert_eq!(sorted(&team["members"]), set_of(&[u1, u2, u3, u4]), "the members stay");

    // Entra's default member removal: `value` lists the members to remove, and only those go.
    let remove = patch(json!([{"op": "Remove", "path": "members", "value": [
        {"$ref": null, "value": u2}, {"$ref": null, "value": u4}
    ]}]));
    entra(client, Method::PATCH, &path, Some(remove)).await.expect(StatusCode::NO_CONTENT);
    let reply = entra(client, Method::GET, &path, None).await;
    let group = reply.expect(StatusCode::OK);
    assert_eq!(sorted(&group["members"]), set_of(&[u1, u3]), "{group}");
    assert_eq!(group["displayName"], "EDU All staff");
    team_until(client, &id, "two members left", |t| sorted(&t["members"]) == set_of(&[u1, u3])).await;
    account_until(client, u2, "u2 out of the team", |a| a["teams"] == json!([])).await;

    // Disabled, then enabled again: Entra does not re-add memberships, so they must stay.
    let disable = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    entra(client, Method::PATCH, &format!("/Users/{u1}"), Some(disable)).await.expect(StatusCode::OK);
    account_until(client, u1, "u1 disabled", |a| a["active"] == false).await;
    let enable = patch(json!([{"op": "Replace", "path": "active", "value": "True"}]));
    entra(client, Method::PATCH, &format!("/Users/{u1}"), Some(enable)).await.expect(StatusCode::OK);
    let account = account_until(client, u1, "u1 enabled", |a| a["active"] == true).await;
    assert_eq!(account["teams"], json!([id]), "the membership survived the disable");
    let reply = entra(client, Method::GET, &path, None).await;
    assert_eq!(sorted(&reply.expect(StatusCode::OK)["members"]), set_of(&[u1, u3]));

    let reply = entra(client, Method::DELETE, &path, None).await;
    reply.expect(StatusCode::NO_CONTENT);
    entra(client, Method::GET, &path, None).await.expect_error(StatusCode::NOT_FOUND);
    client.directory_until("teams", &id, "the team deleted", |status, _| status == StatusCode::NOT_FOUND).await;
    account_until(client, u1, "u1 without teams", |a| a["teams"] == json!([])).await;
}

/// The `aadOptscim062020` dialect (the flag in the tenant URL, so on every request): lowercase
/// ops, real booleans, a path-less replace whose value holds dotted and URN-qualified keys,
/// `remove` of `members[value eq "…"]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_aad_opt_scim062020_dialect() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let reply = entra(
        client,
        Method::POST,
        "/Users?aadOptscim062020",
        Some(entra_user("flag@contoso.com", "flag", "Fla", "G")),
    )
    .await;
    let id = id_of(reply.expect(StatusCode::CREATED));
    let path = format!("/Users/{id}?aadOptscim062020");

    let operations = json!([
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "flagged@contoso.com"},
        {"op": "replace", "value": {
            "displayName": "Flora Flag",
            "name.givenName": "Flora",
            "name.familyName": "Flag",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "4711",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Research"
        }}
    ]);
    let reply = entra(client, Method::PATCH, &path, Some(patch(operations))).await;
    let user = reply.expect(StatusCode::OK);
    assert_eq!(user["displayName"], "Flora Flag");
    assert_eq!(user["name"]["givenName"], "Flora");
    assert_eq!(user["name"]["familyName"], "Flag");
    assert_eq!(user["name"]["formatted"], "Fla G", "the other name parts stay");
    assert_eq!(user[ENTERPRISE], json!({"employeeNumber": "4711", "department": "Research"}));
    assert_eq!(user["emails"], json!([{"primary": true, "type": "work", "value": "flagged@contoso.com"}]));
    let keys: Vec<&String> = user.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert!(
        !keys.iter().any(|k| k.as_str() != ENTERPRISE && (k.contains('.') || k.starts_with("urn:"))),
        "dotted and URN-qualified keys are paths, not attribute names: {keys:?}"
    );
    let account = account_until(client, &id, "the path-less replace", |a| a["given_name"] == "Flora").await;
    assert_eq!(account["family_name"], "Flag");
    assert_eq!(account["display_name"], "Flora Flag");
    assert_eq!(account["email"], "flagged@contoso.com");

    let add = patch(json!([{"op": "add", "path": "nickName", "value": "Babs"}]));
    let reply = entra(client, Method::PATCH, &path, Some(add)).await;
    assert_eq!(reply.expect(StatusCode::OK)["nickName"], "Babs");
    // With the flag, roles arrive in the POST's format.
    let roles = patch(json!([{"op": "add", "path": "roles", "value": [
        {"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}
    ]}]));
    let reply = entra(client, Method::PATCH, &path, Some(roles)).await;
    assert_eq!(reply.expect(StatusCode::OK)["roles"][0]["value"], "Admin");
    account_until(client, &id, "the Admin role", |a| a["roles"] == json!(["Admin"])).await;

    let disable = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    let reply = entra(client, Method::PATCH, &path, Some(disable)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], json!(false));
    account_until(client, &id, "disabled", |a| a["active"] == false).await;
    let enable = patch(json!([{"op": "replace", "value": {"active": true}}]));
    let reply = entra(client, Method::PATCH, &path, Some(enable)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], json!(true));
    account_until(client, &id, "enabled", |a| a["active"] == true).await;

    let other = create_user(client, "other@contoso.com", "other").await;
    let reply = entra(client, Method::POST, "/Groups?aadOptscim062020", Some(entra_group("Flagged", "f1"))).await;
    let group = id_of(reply.expect(StatusCode::CREATED));
    let group_path = format!("/Groups/{group}?aadOptscim062020");
    let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": id}, {"value": other}]}]));
    entra(client, Method::PATCH, &group_path, Some(add)).await.expect(StatusCode::NO_CONTENT);
    team_until(client, &group, "two members", |t| sorted(&t["members"]).len() == 2).await;
    let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]));
    entra(client, Method::PATCH, &group_path, Some(remove)).await.expect(StatusCode::NO_CONTENT);
    let reply = entra(client, Method::GET, &group_path, None).await;
    assert_eq!(sorted(&reply.expect(StatusCode::OK)["members"]), set_of(&[&other]));
    team_until(client, &group, "one member", |t| t["members"] == json!([other])).await;
}

/// Both dialects on one tenant (the flag does not apply to provision-on-demand): a user made and
/// changed by each, members added by one and removed by the other.
async fn both_dialects(client: &Client) {
    // Provision on demand: the default dialect.
    let id = create_user(client, "mixed@contoso.com", "mixed").await;
    let ann = create_user(client, "ann@contoso.com", "ann").await;
    let bob = create_user(client, "bob@contoso.com", "bob").await;
    let path = format!("/Users/{id}");
    let operations = json!([
        {"op": "Replace", "path": "name.givenName", "value": "Max"},
        {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+49 30 1234567"},
        {"op": "Replace", "path": "active", "value": "False"}
    ]);
    let user = entra(client, Method::PATCH, &path, Some(patch(operations))).await;
    let user = user.expect(StatusCode::OK);
    assert_eq!((user["name"]["givenName"].as_str(), user["active"].as_bool()), (Some("Max"), Some(false)), "{user}");
    account_until(client, &id, "Max, disabled", |a| a["given_name"] == "Max" && a["active"] == false).await;

    // The scheduled cycle, with the flag.
    let operations = json!([
        {"op": "replace", "value": {"name.familyName": "Mustermann", "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42"}}
    ]);
    let reply = entra(client, Method::PATCH, &format!("{path}?aadOptscim062020"), Some(patch(operations))).await;
    let user = reply.expect(StatusCode::OK);
    assert_eq!(user["name"]["givenName"], "Max", "the default dialect's change stays");
    assert_eq!(user["name"]["familyName"], "Mustermann");
    assert_eq!(user["phoneNumbers"], json!([{"type": "work", "value": "+49 30 1234567"}]));
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "42");
    let account =
        account_until(client, &id, "Mustermann, enabled", |a| a["family_name"] == "Mustermann" && a["active"] == true)
            .await;
    assert_eq!(account["given_name"], "Max");

    let group = create_group(client, "Mixed", "mixed-group").await;
    let group_path = format!("/Groups/{group}");
    let add = patch(json!([{"op": "Add", "path": "members", "value": [
        {"$ref": null, "value": id}, {"$ref": null, "value": ann}, {"$ref": null, "value": bob}
    ]}]));
    entra(client, Method::PATCH, &group_path, Some(add)).await.expect(StatusCode::NO_CONTENT);
    team_until(client, &group, "three members", |t| sorted(&t["members"]) == set_of(&[&id, &ann, &bob])).await;
    let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]));
    entra(client, Method::PATCH, &format!("{group_path}?aadOptscim062020"), Some(remove))
        .await
        .expect(StatusCode::NO_CONTENT);
    let remove = patch(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": bob}]}]));
    entra(client, Method::PATCH, &group_path, Some(remove)).await.expect(StatusCode::NO_CONTENT);
    let reply = entra(client, Method::GET, &group_path, None).await;
    assert_eq!(sorted(&reply.expect(StatusCode::OK)["members"]), set_of(&[&id]));
    team_until(client, &group, "one member", |t| t["members"] == json!([id])).await;
    account_until(client, &ann, "ann out", |a| a["teams"] == json!([])).await;
    account_until(client, &id, "mixed in", |a| a["teams"] == json!([group])).await;

    // Hard delete (30 days after the soft delete).
    entra(client, Method::DELETE, &path, None).await.expect(StatusCode::NO_CONTENT);
    client.directory_until("accounts", &id, "the account deleted", |status, _| status == StatusCode::NOT_FOUND).await;
    team_until(client, &group, "an empty team", |t| t["members"] == json!([])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_both_dialects_on_standalone() {
    let standalone = Standalone::start().await;
    both_dialects(&standalone.client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_both_dialects_through_postgres_and_kafka() {
    let cluster = Cluster::start().await;
    both_dialects(&cluster.client).await;
}

/// Matching and reference checks (MS-Tutorial §"Retrieving Resources", §1.3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_matching_and_group_queries() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let jane = create_user(client, "jane@contoso.com", "janew").await;
    let john = create_user(client, "john@contoso.com", "johnwong").await;
    // A home address equal to jane's work address must not match a work-email lookup.
    let mut body = entra_user("other@contoso.com", "other", "Oth", "Er");
    body["emails"] = json!([{"type": "home", "value": "jane.work@contoso.com"}]);
    entra(client, Method::POST, "/Users", Some(body)).await.expect(StatusCode::CREATED);
    let operations =
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "jane.work@contoso.com"}]);
    entra(client, Method::PATCH, &format!("/Users/{jane}"), Some(patch(operations))).await.expect(StatusCode::OK);

    // Matching by work email (not RFC grammar; Entra and its validator send it).
    let query = "/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22jane.work%40contoso.com%22";
    let list = entra(client, Method::GET, query, None).await;
    let list = list.expect(StatusCode::OK);
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["id"], jane.as_str());
    // By externalId (caseExact), as real traffic encodes it.
    let list = entra(client, Method::GET, "/Users?filter=externalId+eq+%22johnwong%22", None).await;
    let list = list.expect(StatusCode::OK);
    assert_eq!((list["totalResults"].clone(), list["Resources"][0]["id"].clone()), (json!(1), json!(john)));
    let list = entra(client, Method::GET, "/Users?filter=externalId+eq+%22JOHNWONG%22", None).await;
    assert_eq!(list.expect(StatusCode::OK)["totalResults"], 0, "externalId is caseExact");

    // Groups: looked up by displayName without members, read by id without members.
    let group = create_group(client, "EDU All personal", "edu").await;
    create_group(client, "EDU All personal (old)", "edu-old").await;
    let add = patch(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": jane}]}]));
    entra(client, Method::PATCH, &format!("/Groups/{group}"), Some(add)).await.expect(StatusCode::NO_CONTENT);
    let query = "/Groups?excludedAttributes=members&filter=displayName+eq+%22EDU+All+personal%22";
    let list = entra(client, Method::GET, query, None).await;
    let list = list.expect(StatusCode::OK);
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["id"], group.as_str());
    assert_eq!(list["Resources"][0]["displayName"], "EDU All personal");
    assert!(list["Resources"][0].get("members").is_none(), "members excluded: {list}");
    let reply = entra(client, Method::GET, &format!("/Groups/{group}?excludedAttributes=members"), None).await;
    let read = reply.expect(StatusCode::OK);
    assert_eq!(read["displayName"], "EDU All personal");
    assert!(read.get("members").is_none(), "members excluded: {read}");
    let reply = entra(client, Method::GET, &format!("/Groups/{group}"), None).await;
    assert_eq!(
        sorted(&reply.expect(StatusCode::OK)["members"]),
        set_of(&[&jane]),
        "without the exclusion they are there"
    );

    // The group reference check: one result when the user is a member, none otherwise.
    let member_check =
        |user: &str| format!("/Groups?filter=id+eq+%22{group}%22+and+members+eq+%22{user}%22&attributes=id");
    let list = entra(client, Method::GET, &member_check(&jane), None).await;
    let list = list.expect(StatusCode::OK);
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["id"], group.as_str());
    assert!(list["Resources"][0].get("displayName").is_none(), "attributes=id: {list}");
    let list = entra(client, Method::GET, &member_check(&john), None).await;
    assert_eq!(list.expect(StatusCode::OK)["totalResults"], 0);

    // The manager reference check, `attributes=id` as in the tutorial.
    let manager = patch(json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": john}]));
    entra(client, Method::PATCH, &format!("/Users/{jane}"), Some(manager)).await.expect(StatusCode::OK);
    let manager_check =
        |manager: &str| format!("/Users?filter=id+eq+%22{jane}%22+and+manager+eq+%22{manager}%22&attributes=id");
    let list = entra(client, Method::GET, &manager_check(&john), None).await;
    let list = list.expect(StatusCode::OK);
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["id"], jane.as_str());
    assert!(list["Resources"][0].get("userName").is_none(), "attributes=id: {list}");
    let list = entra(client, Method::GET, &manager_check(&jane), None).await;
    assert_eq!(list.expect(StatusCode::OK)["totalResults"], 0);
}

/// POST bodies Entra sends besides the tutorial's: explicit nulls and the malformed enterprise
/// URN (MS-Tutorial Example 2), custom extension data whose URN is not in `schemas`, Microsoft's
/// ADSCIM Group URN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_post_bodies() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let example = json!({
        "schemas": [CORE_USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
        "externalId": "jyoung",
        "userName": "jyoung@testuser.com",
        "active": true,
        "addresses": null,
        "displayName": "Joy Young",
        "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": true}],
        "meta": {"resourceType": "User"},
        "name": {"familyName": "Young", "givenName": "Joy", "formatted": null},
        "phoneNumbers": null,
        "preferredLanguage": null,
        "title": null,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0User": {
            "department": "Marketing", "employeeNumber": null, "manager": null
        }
    });
    let reply = entra(client, Method::POST, "/Users", Some(example)).await;
    let user = reply.expect(StatusCode::CREATED);
    let id = id_of(user);
    for absent in ["addresses", "phoneNumbers", "preferredLanguage", "title"] {
        assert!(user.get(absent).is_none(), "null means absent, '{absent}': {user}");
    }
    assert_eq!(user["name"], json!({"familyName": "Young", "givenName": "Joy"}));
    assert_eq!(user[ENTERPRISE], json!({"department": "Marketing"}), "the malformed URN's data: {user}");
    let account = account_until(client, &id, "Joy's account", |_| true).await;
    assert_eq!(account["email"], "jyoung@Contoso.com");
    assert_eq!(account["display_name"], "Joy Young");
    assert_eq!(account["given_name"], "Joy");
    assert_eq!(account["external_id"], "jyoung");
    // The enterprise data is addressable under the right URN.
    let query = format!("/Users?filter={ENTERPRISE}:department+eq+%22Marketing%22");
    assert_eq!(entra(client, Method::GET, &query, None).await.expect(StatusCode::OK)["totalResults"], 1);

    // Custom extension data: Entra does not list the URN in `schemas`.
    const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let mut body = entra_user("custom@contoso.com", "custom", "Cus", "Tom");
    body["schemas"] = json!([CORE_USER]);
    body[CUSTOM] = json!({"tag": "Blue", "costCenter": "CC-1"});
    let reply = entra(client, Method::POST, "/Users", Some(body)).await;
    let user = reply.expect(StatusCode::CREATED);
    let custom = id_of(user);
    assert_eq!(user[CUSTOM], json!({"tag": "Blue", "costCenter": "CC-1"}), "{user}");
    let update = patch(json!([{"op": "Replace", "path": format!("{CUSTOM}:tag"), "value": "Red"}]));
    let reply = entra(client, Method::PATCH, &format!("/Users/{custom}"), Some(update)).await;
    assert_eq!(reply.expect(StatusCode::OK)[CUSTOM], json!({"tag": "Red", "costCenter": "CC-1"}));
    let reply = entra(client, Method::GET, &format!("/Users/{custom}"), None).await;
    assert_eq!(reply.expect(StatusCode::OK)[CUSTOM]["tag"], "Red");
    account_until(client, &custom, "the custom user's account", |a| a["user_name"] == "custom@contoso.com").await;

    // The group create, ADSCIM URN included, answers 201 and lands as a team.
    let reply = entra(client, Method::POST, "/Groups", Some(entra_group("Sales", "0b9c6ad4-0a33"))).await;
    let group = reply.expect(StatusCode::CREATED);
    let group_id = id_of(group);
    assert_eq!((group["displayName"].as_str(), group["externalId"].as_str()), (Some("Sales"), Some("0b9c6ad4-0a33")));
    let team = team_until(client, &group_id, "the Sales team", |_| true).await;
    assert_eq!(team["name"], "Sales");
    assert_eq!(team["external_id"], "0b9c6ad4-0a33");
}

/// Every attribute of Entra's default user mapping (MS-Tutorial's tables) comes back exactly as
/// sent, from the POST, a GET and a filtered GET; otherwise Entra re-PATCHes on every cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_default_mapping_round_trips() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let boss = create_user(client, "boss@contoso.com", "boss").await;
    let body = json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "externalId": "AdeleV",
        "userName": "AdeleV@contoso.onmicrosoft.com",
        "active": true,
        "displayName": "Adele Vance",
        "title": "Retail Manager",
        "preferredLanguage": "en-US",
        "emails": [
            {"primary": true, "type": "work", "value": "AdeleV@contoso.onmicrosoft.com"},
            {"type": "other", "value": "smtp:adele@contoso.com"}
        ],
        "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"},
        "addresses": [
            {"type": "work", "formatted": "18/2111", "streetAddress": "205 108th Ave NE", "locality": "Bellevue",
             "region": "WA", "postalCode": "98004", "country": "US"},
            {"type": "other", "formatted": "Home office"}
        ],
        "phoneNumbers": [
            {"type": "work", "value": "+1 425 555 0109"},
            {"type": "mobile", "value": "(425) 555-0110"},
            {"type": "fax", "value": "425.555.0111"}
        ],
        ENTERPRISE: {"employeeNumber": "00042", "department": "Retail", "manager": {"value": boss}},
        "meta": {"resourceType": "User"}
    });
    let reply = entra(client, Method::POST, "/Users", Some(body.clone())).await;
    let created = reply.expect(StatusCode::CREATED).clone();
    let id = id_of(&created);
    let list =
        entra(client, Method::GET, "/Users?filter=userName+eq+%22AdeleV%40contoso.onmicrosoft.com%22", None).await;
    let listed = list.expect(StatusCode::OK)["Resources"][0].clone();
    let fetched = entra(client, Method::GET, &format!("/Users/{id}"), None).await.expect(StatusCode::OK).clone();
    for (what, returned) in [("POST", &created), ("GET", &fetched), ("GET ?filter", &listed)] {
        for (name, sent) in body.as_object().into_iter().flatten() {
            if matches!(name.as_str(), "schemas" | "meta") {
                continue;
            }
            if name == ENTERPRISE {
                for (sub, sent) in sent.as_object().into_iter().flatten() {
                    let back = &returned[ENTERPRISE][sub];
                    let back = if sub == "manager" { &back["value"] } else { back };
                    let sent = if sub == "manager" { &sent["value"] } else { sent };
                    assert_eq!(back, sent, "{what}: {ENTERPRISE}:{sub} as sent: {returned}");
                }
                continue;
            }
            assert_eq!(&returned[name], sent, "{what}: '{name}' as sent");
        }
        assert_eq!(returned["schemas"][0], CORE_USER, "{what}");
        assert!(
            sorted(&returned["schemas"]).contains(&ENTERPRISE.to_owned()),
            "{what}: the enterprise URN is listed: {returned}"
        );
        assert_eq!(returned["meta"]["resourceType"], "User", "{what}");
    }
    let account = account_until(client, &id, "Adele's account", |_| true).await;
    assert_eq!(
        account,
        json!({
            "id": id, "user_name": "AdeleV@contoso.onmicrosoft.com", "external_id": "AdeleV", "active": true,
            "email": "AdeleV@contoso.onmicrosoft.com", "given_name": "Adele", "family_name": "Vance",
            "display_name": "Adele Vance", "roles": [], "teams": [], "permissions": [], "custom_fields": {},
            "scim_user_id": id, "origin": "scim"
        })
    );
}

/// Query strings and URLs as IdPs build them: `+` for spaces, unknown parameters (the flag in
/// the tenant URL), endpoint names in any case, a trailing slash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_transport_details() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let ann = create_user(client, "ann+scim@contoso.com", "ann").await;
    create_user(client, "ann scim@contoso.com", "ann-space").await;
    let group = create_group(client, "EDU All personal", "edu").await;

    // `+` is a space, `%2B` a plus.
    let list = entra(client, Method::GET, "/Groups?filter=displayName+eq+%22EDU+All+personal%22", None).await;
    let list = list.expect(StatusCode::OK);
    assert_eq!((list["totalResults"].clone(), list["Resources"][0]["id"].clone()), (json!(1), json!(group)), "{list}");
    let list = entra(client, Method::GET, "/Users?filter=userName+eq+%22ann%2Bscim%40contoso.com%22", None).await;
    let list = list.expect(StatusCode::OK);
    assert_eq!((list["totalResults"].clone(), list["Resources"][0]["id"].clone()), (json!(1), json!(ann)), "{list}");
    let list = entra(client, Method::GET, "/Users?filter=userName+eq+%22ann+scim%40contoso.com%22", None).await;
    assert_eq!(list.expect(StatusCode::OK)["Resources"][0]["userName"], "ann scim@contoso.com");

    // Unknown query parameters are ignored, on every method.
    let list =
        entra(client, Method::GET, "/Users?aadOptscim062020&filter=userName+eq+%22ann%2Bscim%40contoso.com%22", None)
            .await;
    assert_eq!(list.expect(StatusCode::OK)["totalResults"], 1);
    let list =
        entra(client, Method::GET, "/Users?filter=externalId+eq+%22ann%22&utm_source=entra&aadOptscim062020=", None)
            .await;
    assert_eq!(list.expect(StatusCode::OK)["totalResults"], 1);
    let reply = entra(client, Method::GET, &format!("/Users/{ann}?aadOptscim062020"), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["id"], ann.as_str());
    let reply =
        entra(client, Method::POST, "/Users?aadOptscim062020", Some(entra_user("q@contoso.com", "q", "Q", "Q"))).await;
    let q = id_of(reply.expect(StatusCode::CREATED));
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "Q"}]));
    entra(client, Method::PATCH, &format!("/Users/{q}?aadOptscim062020"), Some(rename)).await.expect(StatusCode::OK);
    entra(client, Method::DELETE, &format!("/Users/{q}?aadOptscim062020"), None).await.expect(StatusCode::NO_CONTENT);

    // Endpoint names in any case.
    let list = entra(client, Method::GET, "/users?filter=userName+eq+%22ann%2Bscim%40contoso.com%22", None).await;
    assert_eq!(list.expect(StatusCode::OK)["totalResults"], 1);
    let reply =
        entra(client, Method::POST, "/users", Some(entra_user("lower@contoso.com", "lower", "Lo", "Wer"))).await;
    let created = reply.expect(StatusCode::CREATED);
    let lower = id_of(created);
    assert!(
        created["meta"]["location"].as_str().is_some_and(|l| l.ends_with(&format!("/Users/{lower}"))),
        "the canonical location: {created}"
    );
    let reply = entra(client, Method::GET, &format!("/users/{lower}"), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["userName"], "lower@contoso.com");
    let add = patch(json!([{"op": "Add", "path": "members", "value": [{"value": lower}]}]));
    entra(client, Method::PATCH, &format!("/groups/{group}"), Some(add)).await.expect(StatusCode::NO_CONTENT);
    let list = entra(client, Method::GET, "/GROUPS?filter=displayName+eq+%22EDU+All+personal%22", None).await;
    assert_eq!(sorted(&list.expect(StatusCode::OK)["Resources"][0]["members"]), set_of(&[&lower]));
    team_until(client, &group, "the member added through /groups", |t| t["members"] == json!([lower])).await;

    // A trailing slash.
    let list = entra(client, Method::GET, "/Users/?filter=userName+eq+%22lower%40contoso.com%22", None).await;
    assert_eq!(list.expect(StatusCode::OK)["totalResults"], 1);
    let reply =
        entra(client, Method::POST, "/Users/", Some(entra_user("slash@contoso.com", "slash", "Sla", "Sh"))).await;
    let slash = id_of(reply.expect(StatusCode::CREATED));
    let reply = entra(client, Method::GET, &format!("/Users/{slash}/"), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["id"], slash.as_str());
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "Slash"}]));
    let reply = entra(client, Method::PATCH, &format!("/Users/{slash}/"), Some(rename)).await;
    assert_eq!(reply.expect(StatusCode::OK)["displayName"], "Slash");
    let reply = entra(client, Method::GET, "/Groups/", None).await;
    assert_eq!(reply.expect(StatusCode::OK)["totalResults"], 1);
    entra(client, Method::DELETE, &format!("/Users/{slash}/"), None).await.expect(StatusCode::NO_CONTENT);
    client
        .directory_until("accounts", &slash, "deleted through a slash", |status, _| status == StatusCode::NOT_FOUND)
        .await;
}

/// The status codes Entra expects (§1.10): PATCH on Users 200 with the resource, on Groups 204
/// (200 with the resource when `attributes` asks for it), DELETE 204, a missing resource 404 as a
/// SCIM error, for every method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_response_codes() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let user = create_user(client, "codes@contoso.com", "codes").await;
    let group = create_group(client, "Codes", "codes").await;

    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "Codes"}]));
    let reply = entra(client, Method::PATCH, &format!("/Users/{user}"), Some(rename)).await;
    let patched = reply.expect(StatusCode::OK);
    assert_eq!(patched["id"], user.as_str());
    assert_eq!(patched["userName"], "codes@contoso.com", "the whole resource, not only what changed");
    assert_eq!(patched["emails"][0]["value"], "codes@contoso.com");
    assert_eq!(patched["meta"]["resourceType"], "User");

    let add = patch(json!([{"op": "Add", "path": "members", "value": [{"value": user}]}]));
    let reply = entra(client, Method::PATCH, &format!("/Groups/{group}"), Some(add.clone())).await;
    reply.expect(StatusCode::NO_CONTENT);
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "Codes 2"}]));
    let reply =
        entra(client, Method::PATCH, &format!("/Groups/{group}?attributes=displayName,members"), Some(rename)).await;
    let patched = reply.expect(StatusCode::OK);
    assert_eq!(patched["id"], group.as_str());
    assert_eq!(patched["displayName"], "Codes 2");
    assert_eq!(sorted(&patched["members"]), set_of(&[&user]));
    assert!(patched.get("externalId").is_none(), "projected to the attributes asked for: {patched}");

    // Missing resources: 404 as a SCIM error, whatever the method.
    let missing = uuid::Uuid::new_v4().to_string();
    for endpoint in ["Users", "Groups"] {
        let path = format!("/{endpoint}/{missing}");
        entra(client, Method::GET, &path, None).await.expect_error(StatusCode::NOT_FOUND);
        entra(client, Method::PATCH, &path, Some(add.clone())).await.expect_error(StatusCode::NOT_FOUND);
        entra(client, Method::DELETE, &path, None).await.expect_error(StatusCode::NOT_FOUND);
        let body = if endpoint == "Users" { entra_user("x@contoso.com", "x", "X", "X") } else { entra_group("X", "x") };
        entra(client, Method::PUT, &path, Some(body)).await.expect_error(StatusCode::NOT_FOUND);
    }

    // DELETE: 204, then 404 (Entra logs InvalidAnchor).
    for path in [format!("/Groups/{group}"), format!("/Users/{user}")] {
        let reply = entra(client, Method::DELETE, &path, None).await;
        reply.expect(StatusCode::NO_CONTENT);
        entra(client, Method::GET, &path, None).await.expect_error(StatusCode::NOT_FOUND);
        entra(client, Method::DELETE, &path, None).await.expect_error(StatusCode::NOT_FOUND);
    }
    client.directory_until("accounts", &user, "the account deleted", |status, _| status == StatusCode::NOT_FOUND).await;
    client.directory_until("teams", &group, "the team deleted", |status, _| status == StatusCode::NOT_FOUND).await;
}

/// A member id the service no longer knows (a user deleted here, still cached by the IdP) never
/// blocks a group's sync: the known members are applied, the request succeeds, and the unknown
/// id is logged as a warning for the tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_stale_member_ids() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let u1 = create_user(client, "u1@contoso.com", "u1").await;
    let u2 = create_user(client, "u2@contoso.com", "u2").await;
    let gone = create_user(client, "gone@contoso.com", "gone").await;
    entra(client, Method::DELETE, &format!("/Users/{gone}"), None).await.expect(StatusCode::NO_CONTENT);
    let never = uuid::Uuid::new_v4().to_string();

    let mut body = entra_group("Stale", "stale");
    body["members"] = json!([{"value": u1}, {"value": gone}]);
    let reply = entra(client, Method::POST, "/Groups", Some(body)).await;
    let created = reply.expect(StatusCode::CREATED);
    let group = id_of(created);
    assert_eq!(sorted(&created["members"]), set_of(&[&u1]), "{created}");

    let add = patch(json!([{"op": "Add", "path": "members", "value": [
        {"$ref": null, "value": never}, {"$ref": null, "value": u2}, {"$ref": null, "value": gone}
    ]}]));
    entra(client, Method::PATCH, &format!("/Groups/{group}"), Some(add)).await.expect(StatusCode::NO_CONTENT);
    let reply = entra(client, Method::GET, &format!("/Groups/{group}"), None).await;
    assert_eq!(sorted(&reply.expect(StatusCode::OK)["members"]), set_of(&[&u1, &u2]));
    team_until(client, &group, "the known members", |t| sorted(&t["members"]) == set_of(&[&u1, &u2])).await;

    // Removing a stale id, and a replace that lists one, succeed too.
    let remove = patch(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": gone}]}]));
    entra(client, Method::PATCH, &format!("/Groups/{group}"), Some(remove)).await.expect(StatusCode::NO_CONTENT);
    let replace = patch(json!([{"op": "replace", "path": "members", "value": [{"value": u2}, {"value": never}]}]));
    entra(client, Method::PATCH, &format!("/Groups/{group}"), Some(replace)).await.expect(StatusCode::NO_CONTENT);
    team_until(client, &group, "only u2", |t| t["members"] == json!([u2])).await;

    let warning = eventually("the unknown id in the log", || async {
        standalone.log().lines().find(|line| line.contains(&never)).map(str::to_owned)
    })
    .await;
    assert!(warning.contains("WARN"), "a warning: {warning}");
    assert!(warning.contains("default"), "for the tenant: {warning}");
    assert!(warning.contains(&group), "and the group: {warning}");
}
