//! scim-events: what a product service needs to consume the change events of scim-provisioning.
//! directory-store is built on it, and so is `directory-store/examples/consumer.rs`.
//!
//! - [`decode`]: a message's [`ChangeEvent`](proto::ChangeEvent), whichever way it came: a
//!   protobuf or JSON payload with CloudEvents binary-mode attributes (Kafka), or a structured
//!   CloudEvent (a webhook, the events API) with [`json::from_cloud_event`]. [`json`] also makes
//!   the JSON form, which is a versioned contract ([`json::CONTRACT_VERSION`]).
//! - [`versions`]: the skip rule for at-least-once delivery (a version at or below the one
//!   applied changes nothing), and a ledger of the last version per resource.
//! - [`offsets`]: consume a message in *your* transaction: skip an offset consumed before,
//!   apply, store the partition's next offset, all in one commit.
//! - [`kafka`] (feature `kafka`, on by default): a Kafka message's attributes and payload, and a
//!   consumer context that starts every assigned partition at the offset your store holds.
#![forbid(unsafe_code)]

pub mod json;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod offsets;
pub mod versions;

pub use proto::ChangeEvent;

/// The content type of a protobuf payload (`scimsvc.v1.ChangeEvent`).
pub const PROTOBUF: &str = "application/protobuf";
/// The content type of a JSON payload (the `data` of the JSON contract).
pub const JSON: &str = "application/json";

/// How the payload of a binary-mode message is written (`KAFKA_EVENT_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `scimsvc.v1.ChangeEvent` (the default: compact, typed, what directory-store reads fastest).
    #[default]
    Protobuf,
    /// The JSON contract's `data`: for consumers in any language.
    Json,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => PROTOBUF,
            Self::Json => JSON,
        }
    }

    /// The format a `content-type` names; none (messages older than the header) is protobuf.
    pub fn of_content_type(content_type: Option<&str>) -> Result<Self, DecodeError> {
        let Some(content_type) = content_type else { return Ok(Self::Protobuf) };
        // Parameters (`; charset=utf-8`) do not change the format.
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case(PROTOBUF) {
            Ok(Self::Protobuf)
        } else if essence.eq_ignore_ascii_case(JSON) {
            Ok(Self::Json)
        } else {
            Err(DecodeError::ContentType(content_type.to_owned()))
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "protobuf" => Ok(Self::Protobuf),
            "json" => Ok(Self::Json),
            other => Err(format!("{other:?} is not an event format (protobuf or json)")),
        }
    }
}

/// The CloudEvents attributes of a binary-mode message (its `ce_*` headers), as far as decoding
/// needs them: a JSON payload carries the event's data only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `ce_id`: the event's id (the same on every redelivery).
    pub id: Option<String>,
    /// `ce_type`: `<prefix>.user.created`, …
    pub event_type: Option<String>,
    /// `ce_time`: RFC 3339.
    pub time: Option<String>,
    /// `content-type`.
    pub content_type: Option<String>,
    /// `ce_dataschema`: the contract version of a JSON payload.
    pub dataschema: Option<String>,
}

/// Why a message is not a change event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("content type {0:?} is neither {PROTOBUF} nor {JSON}")]
    ContentType(String),
    #[error("the payload is not a protobuf ChangeEvent: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("the payload is not a JSON change event: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the event is not valid: {0}")]
    Invalid(String),
}

/// The change event of a binary-mode message: its payload in the format its `content-type`
/// names, with what the JSON form leaves to the attributes (id, type, time) taken from them.
pub fn decode(attributes: &Attributes, payload: &[u8]) -> Result<ChangeEvent, DecodeError> {
    use prost::Message as _;
    match Format::of_content_type(attributes.content_type.as_deref())? {
        Format::Protobuf => Ok(ChangeEvent::decode(payload)?),
        Format::Json => json::from_binary(attributes, payload),
    }
}

/// What can be read of a message that does not decode, for bookkeeping (a dead letter's tenant,
/// resource, type and version, so that it can be found and a purge can clear it): the event when
/// it decodes; else, of a JSON payload, whatever of those fields it holds; else nothing.
pub fn identify(attributes: &Attributes, payload: &[u8]) -> ChangeEvent {
    if let Ok(event) = decode(attributes, payload) {
        return event;
    }
    if Format::of_content_type(attributes.content_type.as_deref()).ok() != Some(Format::Json) {
        return ChangeEvent::default();
    }
    let data: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
    let text = |name: &str| data.get(name).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    ChangeEvent {
        event_id: attributes.id.clone().unwrap_or_default(),
        event_type: attributes.event_type.as_deref().map(unprefixed).unwrap_or_default().to_owned(),
        tenant_id: text("tenant_id"),
        resource_id: text("resource_id"),
        version: data.get("version").and_then(serde_json::Value::as_i64).unwrap_or_default(),
        ..ChangeEvent::default()
    }
}

/// The event type without its reverse-DNS prefix: `com.example.scim.user.created` →
/// `user.created` (the last two dot-separated parts; a name without a prefix stays as it is).
pub fn unprefixed(event_type: &str) -> &str {
    match event_type.rmatch_indices('.').nth(1) {
        Some((dot, _)) => &event_type[dot + 1..],
        None => event_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_content_type() {
        assert_eq!(Format::of_content_type(None).unwrap(), Format::Protobuf);
        assert_eq!(Format::of_content_type(Some("application/protobuf")).unwrap(), Format::Protobuf);
        assert_eq!(Format::of_content_type(Some("Application/JSON; charset=utf-8")).unwrap(), Format::Json);
        assert!(matches!(Format::of_content_type(Some("text/plain")), Err(DecodeError::ContentType(_))));
        assert_eq!("JSON".parse::<Format>().unwrap(), Format::Json);
        assert!("avro".parse::<Format>().is_err());
    }

    #[test]
    fn what_does_not_decode_is_identified_as_far_as_it_can_be() {
        let json = Attributes {
            id: Some("e-1".into()),
            event_type: Some("com.x.user.updated".into()),
            time: Some("not a time".into()),
            content_type: Some(JSON.into()),
            dataschema: None,
        };
        let payload = br#"{"tenant_id": "acme", "resource_id": "u-1", "version": 4, "resource_kind": "user"}"#;
        assert!(decode(&json, payload).is_err(), "no account, and a bad time");
        let known = identify(&json, payload);
        assert_eq!(
            (known.event_id.as_str(), known.event_type.as_str(), known.tenant_id.as_str(), known.resource_id.as_str()),
            ("e-1", "user.updated", "acme", "u-1")
        );
        assert_eq!(known.version, 4);
        assert_eq!(
            identify(&json, b"\x00\x01"),
            ChangeEvent { event_id: "e-1".into(), event_type: "user.updated".into(), ..ChangeEvent::default() }
        );
        assert_eq!(identify(&Attributes::default(), b"\xff\xff"), ChangeEvent::default());
    }

    #[test]
    fn prefixes_come_off() {
        assert_eq!(unprefixed("com.example.scim.user.created"), "user.created");
        assert_eq!(unprefixed("group.member_added"), "group.member_added");
        assert_eq!(unprefixed("created"), "created");
    }
}
