//! Paging, the same over HTTP and gRPC: a page size (default [`DEFAULT_PAGE_SIZE`], at most
//! [`MAX_PAGE_SIZE`]; the dead letters have bounds of their own) and, for a team's members, an
//! opaque cursor, the last account id of the previous page in URL-safe base64 (no padding),
//! which clients pass back unchanged. The states for reconciliation page by plain id instead
//! (`after_id`): their ids are what the caller compares.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::DirectoryError;

/// Members per page when the request does not say.
pub const DEFAULT_PAGE_SIZE: i64 = 1000;
/// The most members a page may ask for.
pub const MAX_PAGE_SIZE: i64 = 10_000;

/// Accounts or teams per listing page when the request does not say.
pub const DEFAULT_RECORDS: i64 = 100;
/// The most accounts or teams a listing page may ask for.
pub const MAX_RECORDS: i64 = 1000;

/// Dead letters per listing when the request does not say.
pub const DEFAULT_DEAD_LETTERS: i64 = 100;
/// The most dead letters a listing may ask for.
pub const MAX_DEAD_LETTERS: i64 = 1000;

/// The cursor of the page after the one ending with `last_account_id`.
pub fn encode_cursor(last_account_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_account_id.as_bytes())
}

/// The account id a cursor continues after; `None` for the empty cursor (the first page).
pub fn decode_cursor(cursor: &str) -> Result<Option<String>, DirectoryError> {
    if cursor.is_empty() {
        return Ok(None);
    }
    let invalid = || DirectoryError::Invalid("the cursor is not one this API returned".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let account_id = String::from_utf8(bytes).map_err(|_| invalid())?;
    if account_id.is_empty() {
        return Err(invalid());
    }
    Ok(Some(account_id))
}

/// The page size a request asks for: `None` for the default, else 1 to [`MAX_PAGE_SIZE`].
pub fn page_size(requested: Option<i64>) -> Result<i64, DirectoryError> {
    page_size_within(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
}

/// A `limit` as the HTTP query string carries it.
pub fn parse_page_size(raw: Option<&str>) -> Result<i64, DirectoryError> {
    parse_page_size_within(raw, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
}

/// The page size a request asks for, of a listing with its own bounds: `None` for `default`,
/// else 1 to `max`.
pub fn page_size_within(requested: Option<i64>, default: i64, max: i64) -> Result<i64, DirectoryError> {
    match requested {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(limit) => Err(out_of_range(&limit.to_string(), max)),
    }
}

/// [`page_size_within`] of a `limit` as the HTTP query string carries it.
pub fn parse_page_size_within(raw: Option<&str>, default: i64, max: i64) -> Result<i64, DirectoryError> {
    match raw {
        None => Ok(default),
        Some(raw) => page_size_within(Some(raw.parse().map_err(|_| out_of_range(raw, max))?), default, max),
    }
}

/// A gRPC `limit`, where 0 asks for the default.
pub fn grpc_limit(limit: u32) -> Option<i64> {
    (limit != 0).then_some(i64::from(limit))
}

fn out_of_range(limit: &str, max: i64) -> DirectoryError {
    DirectoryError::Invalid(format!("limit must be a whole number from 1 to {max}, not {limit:?}"))
}

/// A filter as given: none when absent; a blank one is refused.
pub fn given(name: &str, value: Option<String>) -> Result<Option<String>, DirectoryError> {
    match value {
        Some(value) if value.trim().is_empty() => Err(DirectoryError::Invalid(format!("{name} must not be blank"))),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_others_are_refused() {
        for id in ["a", "acc-1", "é/+?=&", "2c1f8e6a-0b7e-4d3a-9a51-6f0e2d1c3b4a"] {
            let cursor = encode_cursor(id);
            assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
            assert_eq!(decode_cursor(&cursor).ok().flatten().as_deref(), Some(id));
        }
        assert_eq!(decode_cursor("").ok(), Some(None));
        // Not base64url, padded, non-canonical trailing bits, not UTF-8.
        for bad in ["a", "!!!!", "YQ==", "YR", "_w"] {
            assert!(matches!(decode_cursor(bad), Err(DirectoryError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn page_sizes() {
        assert_eq!(parse_page_size(None).ok(), Some(1000));
        assert_eq!(parse_page_size(Some("1")).ok(), Some(1));
        assert_eq!(parse_page_size(Some("10000")).ok(), Some(10_000));
        for bad in ["0", "-1", "10001", "20000", "ten", "", "1.5", " 5"] {
            assert!(matches!(parse_page_size(Some(bad)), Err(DirectoryError::Invalid(_))), "{bad}");
        }
        let dead_letters = |raw| parse_page_size_within(raw, DEFAULT_DEAD_LETTERS, MAX_DEAD_LETTERS).ok();
        assert_eq!(
            (dead_letters(None), dead_letters(Some("1000")), dead_letters(Some("1001"))),
            (Some(100), Some(1000), None)
        );
        assert_eq!((grpc_limit(0), grpc_limit(7)), (None, Some(7)));
    }
}
