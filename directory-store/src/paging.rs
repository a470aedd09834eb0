//! Paging a team's members, the same over HTTP and gRPC: a page size (default
//! [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]) and an opaque cursor, the last account id of
//! the previous page in URL-safe base64 (no padding), which clients pass back unchanged.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::DirectoryError;

/// Members per page when the request does not say.
pub const DEFAULT_PAGE_SIZE: i64 = 1000;
/// The most members a page may ask for.
pub const MAX_PAGE_SIZE: i64 = 10_000;

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
    match requested {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => Ok(limit),
        Some(limit) => Err(out_of_range(&limit.to_string())),
    }
}

/// A `limit` as the HTTP query string carries it.
pub fn parse_page_size(raw: Option<&str>) -> Result<i64, DirectoryError> {
    match raw {
        None => page_size(None),
        Some(raw) => page_size(Some(raw.parse().map_err(|_| out_of_range(raw))?)),
    }
}

fn out_of_range(limit: &str) -> DirectoryError {
    DirectoryError::Invalid(format!("limit must be a whole number from 1 to {MAX_PAGE_SIZE}, not {limit:?}"))
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
    }
}
