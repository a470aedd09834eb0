//! Any UTF-8 text through `Filter::parse`: it must never panic, and a filter it accepts must print
//! to text that parses back to the same filter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::Filter;
use scim::filter::{MAX_FILTER_DEPTH, MAX_FILTER_LENGTH};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(filter) = Filter::parse(text) else { return };
    let printed = filter.to_string();
    match Filter::parse(&printed) {
        Ok(again) => {
            assert_eq!(again, filter, "{text:?} printed as {printed:?}");
            assert_eq!(again.to_string(), printed);
        }
        // Printing may lengthen the text (spaces, normalized numbers and escapes) and add a
        // level of parentheses (Entra's `a[x or y].b eq 1` prints as `a[(x or y) and b eq 1]`).
        Err(error) => assert!(
            printed.chars().count() > MAX_FILTER_LENGTH || nesting(&printed) > MAX_FILTER_DEPTH,
            "{text:?} printed as {printed:?}, which does not parse: {error}"
        ),
    }
    let _ = filter.matches(&json!({
        "userName": "bjensen",
        "active": true,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"type": "work", "value": "b@example.com", "primary": true}, {"type": "home", "value": "x"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": 7, "manager": {"value": "m"}},
    }));
});

/// How deeply `(` and `[` nest in printed filter text, outside string literals.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}
