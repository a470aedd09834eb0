//! How many SQL statements the core runs per SCIM request, counted on the pool's connections
//! (`Database::statements`, transaction control included) around the real RPCs: the token
//! check, the tenant's context, the write pipeline. Work proportional to the change: a PATCH
//! adding one member to a group costs the same at 10 members as at 2,000. The budgets are what
//! the pipeline needs today; a change that adds statements to these paths fails here.

use proto::provisioning_server::Provisioning;
use proto::{CreateUserRequest, PatchResourceRequest};
use provisioning_core::config::RateLimit;
use provisioning_core::provisioning_log::ProvisioningLog;
use provisioning_core::rate_limit::TenantLimits;
use provisioning_core::service::ProvisioningService;
use provisioning_core::store::Store;
use provisioning_core::store::cursor::CursorKey;
use provisioning_core::store::tenants::add_token;
use scim::PatchRequest;
use serde_json::{Value, json};
use tonic::Request;

use crate::{TestStore, create_group, create_user, tenant};

pub(crate) const TOKEN: &str = "scim_local_statementcounting0123456789";

/// The SCIM statements per request on each backend: (create, PATCH of one attribute, PATCH
/// adding one member). Each counts two `SELECT 1`s: r2d2 checks a connection as it leaves the
/// pool (once for the token check, once for the write), so a database restart costs no request.
/// Each write also reads the tenant's config revision in its transaction (a share lock on
/// PostgreSQL), so that it maps with the rules in force. A create: the token check, BEGIN, the
/// userName check, the tombstone lookup (soft delete),
/// the user row, its email rows, the outbox row, COMMIT. A PATCH: the token check, BEGIN, the
/// row lock and read, the row, the outbox row, COMMIT. A member add: the token check, BEGIN,
/// the group's lock and read, whether the id is a member, the user's lock and account id, the
/// member row, the group row, the outbox row, COMMIT.
const POSTGRES: (u64, u64, u64) = (11, 10, 14);
const SQLITE: (u64, u64, u64) = (11, 10, 14);

#[tokio::test(flavor = "multi_thread")]
async fn statements_per_request_sqlite() {
    statements_per_request(&TestStore::sqlite(), SQLITE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_per_request_postgres() {
    statements_per_request(&TestStore::postgres(), POSTGRES).await;
}

/// The real RPC service on `store`, without the relay and the provisioning log's writer.
pub(crate) fn service(store: &Store) -> ProvisioningService {
    let limits = TenantLimits::new(RateLimit {
        per_second: std::num::NonZeroU32::new(1_000_000).expect("non-zero"),
        burst: std::num::NonZeroU32::new(1_000_000).expect("non-zero"),
    });
    let (log, _writer) = ProvisioningLog::new(store.clone(), std::time::Duration::from_secs(3600), false);
    let key = CursorKey::load_or_create(store).expect("a cursor key");
    let slots = provisioning_core::rate_limit::TenantSlots::new(4, std::time::Duration::from_secs(5));
    ProvisioningService::new(store.clone(), Default::default(), key, log, limits, slots, None)
}

/// A request with the tenant's token, which the scenarios issue as [`TOKEN`].
pub(crate) fn authorized<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().expect("a metadata value"));
    request
}

fn operations(body: Value) -> Vec<proto::PatchOperation> {
    let request = PatchRequest::from_body(&body).expect("a PATCH body");
    request.operations.iter().map(proto::PatchOperation::from).collect()
}

pub(crate) fn user_message(user_name: &str) -> proto::UserInput {
    user_message_with(user_name, json!({}))
}

/// A user's message, with extra attributes.
pub(crate) fn user_message_with(user_name: &str, extra: Value) -> proto::UserInput {
    let mut attributes = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "active": true,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
    });
    if let (Some(all), Value::Object(extra)) = (attributes.as_object_mut(), extra) {
        all.extend(extra);
    }
    let input = scim::UserInput::from_body(attributes).expect("a user");
    proto::UserInput {
        user_name: input.user_name,
        external_id: input.external_id,
        active: input.active,
        display_name: input.display_name,
        attributes_json: Value::Object(input.attributes).to_string(),
    }
}

/// The statements `work` runs.
async fn counted<T>(store: &Store, work: impl std::future::Future<Output = T>) -> (u64, T) {
    let before = store.database().statements();
    let done = work.await;
    (store.database().statements() - before, done)
}

async fn statements_per_request(store: &Store, (create_budget, patch_budget, member_budget): (u64, u64, u64)) {
    let acme = tenant(store, "acme");
    store.write(|conn| add_token(conn, "acme", TOKEN)).expect("a token");
    let service = service(store);
    // The tenant's context is compiled on the first request and cached after.
    let warm = service.create_user(authorized(CreateUserRequest { user: Some(user_message("warm@x.io")) })).await;
    warm.expect("creating a user");

    let (create, created) =
        counted(store, service.create_user(authorized(CreateUserRequest { user: Some(user_message("ada@x.io")) })))
            .await;
    let created = created.expect("creating a user").into_inner();
    assert!(create <= create_budget, "a SCIM create ran {create} statements, budget {create_budget}");

    let title = operations(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Engineer"}]
    }));
    let patch = PatchResourceRequest {
        id: created.id.clone(),
        operations: title,
        if_match_version: None,
        if_match: None,
        exclude_members: false,
    };
    let (patched, done) = counted(store, service.patch_user(authorized(patch))).await;
    assert_eq!(done.expect("patching a user").into_inner().version, 2);
    assert!(patched <= patch_budget, "a one-attribute PATCH ran {patched} statements, budget {patch_budget}");

    // One member added to a small group and to a large one: the same statements.
    let mut member_counts = Vec::new();
    for size in [10, 2_000] {
        let members: Vec<Value> = (0..size)
            .map(|n| json!({"value": create_user(store, &acme, json!({"userName": format!("m{size}-{n}")})).id}))
            .collect();
        let group = create_group(store, &acme, json!({"displayName": format!("G{size}"), "members": members}));
        let joining = create_user(store, &acme, json!({"userName": format!("joining-{size}")}));
        let add = operations(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": joining.id}]}]
        }));
        let patch = PatchResourceRequest {
            id: group.id.clone(),
            operations: add,
            if_match_version: None,
            if_match: None,
            exclude_members: true,
        };
        let (statements, done) = counted(store, service.patch_group(authorized(patch))).await;
        let answer = done.expect("adding a member").into_inner();
        assert_eq!(answer.version, 2);
        assert!(!answer.attributes_json.contains("members"), "a 204 answer carries no members");
        member_counts.push(statements);
    }
    assert_eq!(member_counts[0], member_counts[1], "adding a member costs the same at 10 and 2,000 members");
    assert!(
        member_counts[0] <= member_budget,
        "a one-member group PATCH ran {} statements, budget {member_budget}",
        member_counts[0]
    );
    eprintln!("statements: create {create}, patch {patched}, member add {member_counts:?}");
}
