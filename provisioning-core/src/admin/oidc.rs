//! Operator SSO: the admin API accepts an OpenID Connect ID or access token (a JWT) from the
//! organisation's identity provider as the bearer credential, when `ADMIN_OIDC_ISSUER` is set.
//! The token's signature is checked against the issuer's published keys (JWKS, found through
//! its discovery document unless `ADMIN_OIDC_JWKS_URL` names them; fetched again when a token
//! names a key not seen yet, so the IdP's key rotation needs nothing here), and its `iss`,
//! `aud` (`ADMIN_OIDC_AUDIENCE`), `exp` and `nbf`. Its roles (claim `ADMIN_OIDC_ROLES_CLAIM`,
//! `roles` by default: Entra ID's app roles; Okta's `groups`) give the scope through
//! `ADMIN_OIDC_ROLE_SCOPES` (`scim-readers=read_only,scim-ops=full`); the highest one wins. The
//! audit log names the operator `oidc:<name>` (claim `ADMIN_OIDC_NAME_CLAIM`, else `sub`) with
//! the token's `sub` as its key id. Only asymmetric algorithms are accepted (RS*, PS*, ES*).

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::Mutex;

use super::AdminError;
use super::operators::Identity;
use crate::config::OidcConfig;

/// The algorithms a token may be signed with: the IdP's private key, never a shared secret.
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Keys are fetched again after this long, and at most this often for an unknown `kid`.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
const REFETCH_AFTER: Duration = Duration::from_secs(2);

/// Whether a bearer credential has the shape of a JWT (three base64url parts).
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3 && credential.starts_with("eyJ")
}

struct Keys {
    set: JwkSet,
    /// When the keys held were fetched.
    fetched: Option<Instant>,
    /// When a fetch was last tried.
    attempted: Option<Instant>,
}

pub struct Verifier {
    config: OidcConfig,
    http: reqwest::Client,
    keys: Mutex<Keys>,
}

fn unauthorized(detail: impl std::fmt::Display) -> AdminError {
    AdminError::new(401, format!("the SSO token is not valid: {detail}"))
}

/// What was wrong with a token, in the settings' words.
fn rejected(error: jsonwebtoken::errors::Error) -> AdminError {
    use jsonwebtoken::errors::ErrorKind;
    let detail = match error.kind() {
        ErrorKind::ExpiredSignature => "it has expired (exp)".to_owned(),
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidAudience => "its audience (aud) is not ADMIN_OIDC_AUDIENCE".to_owned(),
        ErrorKind::InvalidIssuer => "its issuer (iss) is not ADMIN_OIDC_ISSUER".to_owned(),
        ErrorKind::InvalidSignature => "its signature does not verify with the issuer's key".to_owned(),
        _ => error.to_string(),
    };
    unauthorized(detail)
}

impl Verifier {
    pub fn new(config: OidcConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        Ok(Self {
            config,
            http,
            keys: Mutex::new(Keys { set: JwkSet { keys: Vec::new() }, fetched: None, attempted: None }),
        })
    }

    /// The operator a valid token names, with the scope its roles give (`None`: no role maps to
    /// one, and the detail says which roles the token had).
    pub async fn verify(&self, token: &str) -> Result<(Identity, Option<String>), AdminError> {
        let header = jsonwebtoken::decode_header(token).map_err(rejected)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(unauthorized(format!("algorithm {:?} is not accepted (RS*, PS* or ES* only)", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| unauthorized("its header names no key (kid)"))?;
        let jwk = self.key(&kid).await?;
        if let Some(declared) = jwk.common.key_algorithm
            && declared.to_string().parse::<Algorithm>().ok() != Some(header.alg)
        {
            return Err(unauthorized(format!("key {kid} is for {declared}, the token says {:?}", header.alg)));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(rejected)?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation).map_err(rejected)?.claims;
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_owned();
        let name = claims.get(&self.config.name_claim).and_then(Value::as_str).unwrap_or(&sub).to_owned();
        let roles = roles(claims.get(&self.config.roles_claim));
        let scope = self
            .config
            .role_scopes
            .iter()
            .filter(|(role, _)| roles.iter().any(|held| held == role))
            .map(|(_, scope)| *scope)
            .max();
        let refusal = scope.is_none().then(|| {
            format!(
                "the SSO token of '{name}' carries no role in '{}' that ADMIN_OIDC_ROLE_SCOPES maps to a scope (it has: {})",
                self.config.roles_claim,
                if roles.is_empty() { "none".to_owned() } else { roles.join(", ") }
            )
        });
        let identity = Identity { name: format!("oidc:{name}"), key_id: Some(sub), scope: scope.unwrap_or_default() };
        Ok((identity, refusal))
    }

    /// The issuer's key `kid`: from the keys held, else from the keys fetched again (the IdP
    /// rotated them). Fetches are tried at most every [`REFETCH_AFTER`], failed or not, and
    /// without holding the lock: an IdP that is down or slow delays no other sign-in, and
    /// tokens naming made-up keys cost at most one fetch per interval.
    async fn key(&self, kid: &str) -> Result<Jwk, AdminError> {
        let due = {
            let mut keys = self.keys.lock().await;
            let fresh = keys.fetched.is_some_and(|at| at.elapsed() < KEYS_MAX_AGE);
            if fresh && let Some(jwk) = keys.set.find(kid) {
                return Ok(jwk.clone());
            }
            let due = keys.attempted.is_none_or(|at| at.elapsed() >= REFETCH_AFTER);
            if due {
                keys.attempted = Some(Instant::now());
            }
            due
        };
        if due {
            match self.fetch().await {
                Ok(set) => {
                    let mut keys = self.keys.lock().await;
                    keys.set = set;
                    keys.fetched = Some(Instant::now());
                }
                Err(error) => tracing::error!(error = format!("{error:#}"), "fetching the SSO issuer's keys failed"),
            }
        }
        let keys = self.keys.lock().await;
        if keys.fetched.is_none() {
            return Err(AdminError::new(503, "the SSO issuer's keys cannot be fetched yet; try again"));
        }
        keys.set.find(kid).cloned().ok_or_else(|| unauthorized(format!("the issuer publishes no key {kid}")))
    }

    async fn fetch(&self) -> anyhow::Result<JwkSet> {
        use anyhow::Context as _;
        let url = match &self.config.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery =
                    format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
                let document: Value = self.http.get(&discovery).send().await?.error_for_status()?.json().await?;
                // OpenID Connect Discovery §4.3: the document is the issuer's own.
                let issuer = document["issuer"].as_str().unwrap_or_default();
                anyhow::ensure!(
                    issuer == self.config.issuer,
                    "{discovery} is the document of issuer '{issuer}', not of ADMIN_OIDC_ISSUER"
                );
                let url = document["jwks_uri"].as_str().with_context(|| format!("{discovery} names no jwks_uri"))?;
                crate::config::check_oidc_url("the discovery document's jwks_uri", url)?;
                url.to_owned()
            }
        };
        let set: JwkSet = self.http.get(&url).send().await?.error_for_status()?.json().await?;
        Ok(set)
    }
}

/// A roles claim: an array of strings, or one string of space-separated values (as `scp`).
fn roles(claim: Option<&Value>) -> Vec<String> {
    match claim {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_as_arrays_or_space_separated_strings() {
        assert_eq!(roles(Some(&json!(["a", "b", 3]))), ["a", "b"]);
        assert_eq!(roles(Some(&json!("a b"))), ["a", "b"]);
        assert!(roles(None).is_empty());
        assert!(roles(Some(&json!({"a": 1}))).is_empty());
    }

    #[test]
    fn only_jwt_shaped_credentials_are_tried_as_sso_tokens() {
        assert!(looks_like_jwt("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"));
        assert!(!looks_like_jwt("opkey_local_abc"));
        assert!(!looks_like_jwt("eyJ.only-two"));
    }
}
