//! RFC 9865 cursors: opaque and tamper-proof. A cursor carries the position of the next page and
//! a fingerprint of the query it belongs to, signed with HMAC-SHA256 under a key that the
//! service generates once and keeps in the database, so every replica accepts every cursor. A
//! modified cursor, or one used with another filter or sort, is refused with `invalidCursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use rand::RngCore;
use scim::{ScimError, ScimType};
use sha2::{Digest, Sha256};

use crate::error::CoreError;
use crate::schema::service_secrets;
use crate::store::Store;

type Signer = Hmac<Sha256>;

const KEY_NAME: &str = "cursor-signing-key";

#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([redacted])")
    }
}

impl CursorKey {
    /// The shared key: read, or created by the first replica that needs it. The insert runs
    /// in its own transaction, so a replica that loses the race (a unique violation) reads the
    /// winner's key instead of failing its start.
    pub fn load_or_create(store: &Store) -> Result<Self, CoreError> {
        let existing = || -> Result<Option<String>, CoreError> {
            store.read(|conn| {
                Ok(service_secrets::table.find(KEY_NAME).select(service_secrets::value).first(conn).optional()?)
            })
        };
        if let Some(value) = existing()? {
            return Self::decode(&value);
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let inserted = store.write(|conn| {
            diesel::insert_into(service_secrets::table)
                .values((service_secrets::name.eq(KEY_NAME), service_secrets::value.eq(hex::encode(bytes))))
                .execute(conn)
                .map_err(CoreError::from)
        });
        if let Err(error) = inserted {
            tracing::info!(error = %error, "another replica stored the cursor key first");
        }
        let value = existing()?.ok_or_else(|| CoreError::Internal("the cursor key was not stored".into()))?;
        Self::decode(&value)
    }

    fn decode(value: &str) -> Result<Self, CoreError> {
        hex::decode(value).map(Self).map_err(|_| CoreError::Internal("the stored cursor key is not hex".into()))
    }

    #[cfg(test)]
    pub fn for_tests(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    fn signer(&self) -> Result<Signer, CoreError> {
        Signer::new_from_slice(&self.0).map_err(|_| CoreError::Internal("unusable cursor key".into()))
    }

    /// A cursor for the page starting at `offset` (0-based) of the query `fingerprint`.
    pub fn issue(&self, offset: u64, fingerprint: &str) -> Result<String, CoreError> {
        let payload = format!("{offset}:{fingerprint}");
        let mut signer = self.signer()?;
        signer.update(payload.as_bytes());
        let tag = signer.finalize().into_bytes();
        let mut bytes = payload.into_bytes();
        bytes.push(b':');
        bytes.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The offset a cursor points at, if it is genuine and belongs to this query.
    pub fn open(&self, cursor: &str, fingerprint: &str) -> Result<u64, CoreError> {
        let invalid = || {
            CoreError::Scim(ScimError::bad_request(ScimType::InvalidCursor, "the cursor is not valid for this query"))
        };
        let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| invalid())?;
        // payload ':' tag, the tag being the last 32 bytes.
        if bytes.len() < 33 {
            return Err(invalid());
        }
        let (payload, tag) = bytes.split_at(bytes.len() - 32);
        let payload = payload.strip_suffix(b":").ok_or_else(invalid)?;
        let mut signer = self.signer()?;
        signer.update(payload);
        signer.verify_slice(tag).map_err(|_| invalid())?;
        let payload = std::str::from_utf8(payload).map_err(|_| invalid())?;
        let (offset, issued_for) = payload.split_once(':').ok_or_else(invalid)?;
        if issued_for != fingerprint {
            return Err(invalid());
        }
        offset.parse().map_err(|_| invalid())
    }
}

/// What identifies a query for its cursors: the tenant, the resource type, the filter and the
/// sort. A cursor of another tenant is refused like a tampered one.
pub fn fingerprint(
    tenant: &super::tenants::TenantId,
    kind: scim::ResourceType,
    filter: Option<&scim::Filter>,
    sort_by: Option<&str>,
    descending: bool,
) -> String {
    let text = format!("{}|{}|{filter:?}|{sort_by:?}|{descending}", tenant.as_str(), kind.name());
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tenants::TenantId;

    #[test]
    fn cursors_round_trip_and_resist_tampering() {
        let key = CursorKey::for_tests(b"0123456789abcdef0123456789abcdef");
        let acme = TenantId("acme".to_owned());
        let query = fingerprint(&acme, scim::ResourceType::User, None, Some("userName"), false);
        let cursor = key.issue(200, &query).unwrap();
        assert_eq!(key.open(&cursor, &query).unwrap(), 200);

        let other_query = fingerprint(&acme, scim::ResourceType::User, None, None, false);
        assert!(
            key.open(&cursor, &fingerprint(&acme, scim::ResourceType::Group, None, Some("userName"), false)).is_err()
        );
        let globex = TenantId("globex".to_owned());
        let other_tenant = fingerprint(&globex, scim::ResourceType::User, None, Some("userName"), false);
        assert!(key.open(&cursor, &other_tenant).is_err(), "a cursor is its tenant's only");
        assert!(key.open(&cursor, &other_query).is_err(), "a cursor belongs to its query");
        let mut tampered = cursor.clone().into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let error = key.open(&tampered, &query).unwrap_err();
        assert!(matches!(error, CoreError::Scim(ref e) if e.scim_type == Some(ScimType::InvalidCursor)), "{error:?}");
        assert!(key.open("not a cursor", &query).is_err());
        assert!(key.open("", &query).is_err());
        let other_key = CursorKey::for_tests(b"another key, another deployment");
        assert!(other_key.open(&cursor, &query).is_err());
    }
}
