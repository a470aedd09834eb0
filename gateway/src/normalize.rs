//! Request paths as IdPs write them: endpoint names in any case (`/users`, `/GROUPS`) and a
//! trailing slash are rewritten to the canonical path before routing.

use actix_web::dev::ServiceRequest;
use actix_web::http::Uri;
use actix_web::http::uri::PathAndQuery;

const ENDPOINTS: &[&str] =
    &["Users", "Groups", "Bulk", "Me", "Schemas", "ResourceTypes", "ServiceProviderConfig", ".search"];

/// The canonical form of `path` under `base_path`, if it differs.
pub fn canonical_path(base_path: &str, path: &str) -> Option<String> {
    let rest = if base_path.is_empty() {
        path
    } else {
        let prefix = path.get(..base_path.len())?;
        if !prefix.eq_ignore_ascii_case(base_path) {
            return None;
        }
        &path[base_path.len()..]
    };
    let mut segments: Vec<&str> = rest.split('/').collect();
    // "/Users/" → ["", "Users", ""]: drop the empty last segment.
    while segments.len() > 2 && segments.last() == Some(&"") {
        segments.pop();
    }
    if let Some(first) = segments.get_mut(1)
        && let Some(known) = ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(first))
    {
        *first = known;
    }
    if let Some(second) = segments.get_mut(2)
        && second.eq_ignore_ascii_case(".search")
    {
        *second = ".search";
    }
    let canonical = format!("{base_path}{}", segments.join("/"));
    (canonical != path).then_some(canonical)
}

/// Rewrites the request's path in place (before routing), keeping its query string.
pub fn rewrite(base_path: &str, request: &mut ServiceRequest) {
    let Some(path) = canonical_path(base_path, request.path()) else { return };
    let head = request.head();
    let path_and_query = match head.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let Ok(path_and_query) = path_and_query.parse::<PathAndQuery>() else { return };
    let mut parts = head.uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    if let Ok(uri) = Uri::from_parts(parts) {
        request.match_info_mut().get_mut().update(&uri);
        request.head_mut().uri = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_in_any_case_and_trailing_slashes() {
        assert_eq!(canonical_path("/scim/v2", "/scim/v2/users").as_deref(), Some("/scim/v2/Users"));
        assert_eq!(canonical_path("/scim/v2", "/scim/v2/Users/").as_deref(), Some("/scim/v2/Users"));
        assert_eq!(canonical_path("/scim/v2", "/SCIM/v2/groups/abc/").as_deref(), Some("/scim/v2/Groups/abc"));
        assert_eq!(canonical_path("/scim/v2", "/scim/v2/users/.SEARCH").as_deref(), Some("/scim/v2/Users/.search"));
        assert_eq!(canonical_path("/scim/v2", "/scim/v2/Users/AbC"), None, "ids keep their case");
        assert_eq!(canonical_path("/scim/v2", "/other/users"), None);
        assert_eq!(canonical_path("", "/serviceproviderconfig").as_deref(), Some("/ServiceProviderConfig"));
    }
}
