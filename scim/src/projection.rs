//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5 and §3.9): which attributes a
//! response carries. `id` and `schemas` are always returned.

use serde_json::{Map, Value};

use crate::filter::AttrPath;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    attributes: Vec<AttrPath>,
    excluded: Vec<AttrPath>,
}

const ALWAYS: &[&str] = &["id", "schemas"];

impl Projection {
    /// From the comma-separated query parameters; names that are not attribute paths are ignored.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Self {
        let list = |text: Option<&str>| -> Vec<AttrPath> {
            text.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .filter_map(|name| AttrPath::parse(name).ok())
                .collect()
        };
        Self { attributes: list(attributes), excluded: list(excluded) }
    }

    /// True when the top-level attribute `name` is left out entirely.
    pub fn excludes(&self, name: &str) -> bool {
        if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            return false;
        }
        if self.excluded.iter().any(|p| p.sub.is_none() && p.name.eq_ignore_ascii_case(name)) {
            return true;
        }
        !self.attributes.is_empty() && !self.attributes.iter().any(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(&self, resource: &mut Map<String, Value>) {
        resource.retain(|name, _| !self.excludes(name));
        for (name, value) in resource.iter_mut() {
            let Value::Object(object) = value else { continue };
            let requested: Vec<&str> = self
                .attributes
                .iter()
                .filter(|p| p.name.eq_ignore_ascii_case(name))
                .map(|p| p.sub.as_deref())
                .collect::<Option<Vec<_>>>()
                .unwrap_or_default();
            if !requested.is_empty() {
                object.retain(|sub, _| requested.iter().any(|r| r.eq_ignore_ascii_case(sub)));
            }
            for excluded in self.excluded.iter().filter(|p| p.name.eq_ignore_ascii_case(name)) {
                if let Some(sub) = &excluded.sub {
                    object.retain(|key, _| !key.eq_ignore_ascii_case(sub));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project(projection: Projection, value: Value) -> Value {
        let Value::Object(mut map) = value else { panic!() };
        projection.apply(&mut map);
        Value::Object(map)
    }

    #[test]
    fn excluded_members_are_left_out() {
        let out = project(
            Projection::parse(None, Some("members")),
            json!({"id": "1", "displayName": "T", "members": [{"value": "u"}]}),
        );
        assert_eq!(out, json!({"id": "1", "displayName": "T"}));
    }

    #[test]
    fn attributes_keep_only_what_was_asked_and_id() {
        let out = project(
            Projection::parse(Some("userName,name.givenName"), None),
            json!({"schemas": [], "id": "1", "userName": "u", "title": "x", "name": {"givenName": "G", "familyName": "F"}}),
        );
        assert_eq!(out, json!({"schemas": [], "id": "1", "userName": "u", "name": {"givenName": "G"}}));
    }

    #[test]
    fn id_is_never_excluded() {
        let out = project(Projection::parse(None, Some("id,title")), json!({"id": "1", "title": "x"}));
        assert_eq!(out, json!({"id": "1"}));
    }
}
