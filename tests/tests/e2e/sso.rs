//! Operator SSO: the admin API takes an OpenID Connect token from the organisation's identity
//! provider. The IdP is mocked (it is outside the system): a discovery document and a JWKS
//! served by the test, tokens signed with a P-256 key made in the test. Checked: the role
//! decides the scope, the audit log names the operator, and an expired token, another audience,
//! another issuer, a forged signature, a symmetric algorithm, a token not valid yet, a key
//! published for another algorithm or a token without a mapped role is refused; a key the IdP
//! rotates in is fetched when a token first names it.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::Standalone;

/// A signing key of the mock IdP: its private half, and its public half as a JWK.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn new(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate().expect("a P-256 key");
        let point = pair.public_key_raw();
        assert_eq!((point.len(), point[0]), (65, 4), "an uncompressed P-256 point");
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        Self { kid: kid.to_owned(), encoding: EncodingKey::from_ec_der(&pair.serialize_der()), jwk }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing a token")
    }
}

/// The mock IdP: `/.well-known/openid-configuration` and `/keys`, with the JWKS it serves
/// (the test rotates it). Returns its issuer URL.
fn start_idp(jwks: Arc<Mutex<Value>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")});
    let server = actix_web::HttpServer::new(move || {
        let (discovery, jwks) = (discovery.clone(), jwks.clone());
        actix_web::App::new()
            .route(
                "/.well-known/openid-configuration",
                actix_web::web::get().to(move || {
                    let discovery = discovery.clone();
                    async move { actix_web::HttpResponse::Ok().json(discovery) }
                }),
            )
            .route(
                "/keys",
                actix_web::web::get().to(move || {
                    let body = jwks.lock().unwrap().clone();
                    async move { actix_web::HttpResponse::Ok().json(body) }
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    issuer
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_sign_in_with_the_organisations_identity_provider() {
    let first = SigningKey::new("key-1");
    // A key published for another algorithm than the one its tokens say.
    let mislabelled = SigningKey::new("key-3");
    let mut mislabelled_jwk = mislabelled.jwk.clone();
    mislabelled_jwk["alg"] = json!("ES384");
    let jwks = Arc::new(Mutex::new(json!({"keys": [first.jwk, mislabelled_jwk]})));
    let issuer = start_idp(jwks.clone());
    let standalone = Standalone::start_with(vec![
        ("ADMIN_OIDC_ISSUER", issuer.clone()),
        ("ADMIN_OIDC_AUDIENCE", "scim-admin".to_owned()),
        ("ADMIN_OIDC_ROLE_SCOPES", "scim-readers=read_only,scim-tenants=tenant_admin".to_owned()),
    ])
    .await;
    let admin = &standalone.admin;
    let claims = |name: &str, roles: &[&str]| {
        json!({
            "iss": issuer, "aud": "scim-admin", "sub": format!("sub-{name}"), "preferred_username": name,
            "roles": roles, "iat": now(), "exp": now() + 600,
        })
    };

    // The role decides the scope.
    let alice = first.sign(&claims("alice@example.com", &["scim-tenants", "other"]));
    let (status, created) =
        admin.call_as(&alice, Method::POST, "/admin/v1/tenants", Some(json!({"slug": "sso"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let bob = first.sign(&claims("bob@example.com", &["scim-readers"]));
    assert_eq!(admin.call_as(&bob, Method::GET, "/admin/v1/tenants", None).await.0, StatusCode::OK);
    let (status, refused) = admin.call_as(&bob, Method::POST, "/admin/v1/tenants/sso/tokens", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, refused) = admin.call_as(&alice, Method::POST, "/admin/v1/operator-keys", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "operator keys need full: {refused}");
    let carol = first.sign(&claims("carol@example.com", &["sales"]));
    let (status, refused) = admin.call_as(&carol, Method::POST, "/admin/v1/tenants/sso/tokens", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused["detail"].as_str().unwrap().contains("sales"), "says which roles it had: {refused}");

    // Refused with 401: expired, another audience, another issuer, forged, symmetric.
    let mut expired = claims("alice@example.com", &["scim-tenants"]);
    expired["exp"] = json!(now() - 3600);
    let mut audience = claims("alice@example.com", &["scim-tenants"]);
    audience["aud"] = json!("another-app");
    let mut other_issuer = claims("alice@example.com", &["scim-tenants"]);
    other_issuer["iss"] = json!("https://evil.example");
    let mut early = claims("alice@example.com", &["scim-tenants"]);
    early["nbf"] = json!(now() + 3600);
    let forger = SigningKey::new("key-1");
    let mut symmetric = Header::new(Algorithm::HS256);
    symmetric.kid = Some("key-1".into());
    let hs256 = jsonwebtoken::encode(
        &symmetric,
        &claims("alice@example.com", &["scim-tenants"]),
        &EncodingKey::from_secret(b"the public key is not a secret"),
    )
    .unwrap();
    for (case, token, says) in [
        ("expired", first.sign(&expired), "expired"),
        ("another audience", first.sign(&audience), "audience"),
        ("another issuer", first.sign(&other_issuer), "issuer"),
        ("forged", forger.sign(&claims("alice@example.com", &["scim-tenants"])), "signature"),
        ("symmetric", hs256, "not accepted"),
        ("not valid yet", first.sign(&early), "not valid yet"),
        (
            "a key of another algorithm",
            mislabelled.sign(&claims("alice@example.com", &["scim-tenants"])),
            "is for ES384",
        ),
    ] {
        let (status, refused) = admin.call_as(&token, Method::POST, "/admin/v1/tenants/sso/tokens", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {refused}");
        assert!(refused["detail"].as_str().unwrap().contains(says), "{case}: {refused}");
    }

    // The IdP rotates its keys: a token naming the new key is accepted (its keys are fetched
    // again, at most every 2 s), and one naming a key it never published is refused.
    let second = SigningKey::new("key-2");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    *jwks.lock().unwrap() = json!({"keys": [first.jwk, second.jwk]});
    let rotated = second.sign(&claims("alice@example.com", &["scim-tenants"]));
    let (status, issued) = admin.call_as(&rotated, Method::POST, "/admin/v1/tenants/sso/tokens", None).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let unknown = SigningKey::new("key-9").sign(&claims("alice@example.com", &["scim-tenants"]));
    let (status, refused) = admin.call_as(&unknown, Method::POST, "/admin/v1/tenants/sso/tokens", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(refused["detail"].as_str().unwrap().contains("key-9"), "{refused}");

    // The audit log names each operator (its `sub` as the key id), refused or not.
    let (_, audit) = admin.call(Method::GET, "/admin/v1/audit?tenant=sso&limit=100", None).await;
    let entries = audit["entries"].as_array().expect("entries");
    let has = |operator: &str, status: i64| entries.iter().any(|e| e["operator"] == operator && e["status"] == status);
    assert!(has("oidc:alice@example.com", 201), "{audit}");
    assert!(has("oidc:bob@example.com", 403), "{audit}");
    assert!(has("oidc:carol@example.com", 403), "refused for want of a role, still named: {audit}");
    let alice_entry = entries.iter().find(|e| e["operator"] == "oidc:alice@example.com").unwrap();
    assert_eq!(alice_entry["key_id"], "sub-alice@example.com");
    let (_, audit) = admin.call(Method::GET, "/admin/v1/audit?operator=oidc:alice@example.com", None).await;
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| e["path"] == "/admin/v1/tenants"), "{audit}");
}
