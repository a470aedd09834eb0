//! SCIM resources → the product's directory records, through each tenant's rules.
//!
//! The SCIM resource is stored and returned as the IdP sent it; what the product sees is the
//! mapped record: each account field comes from the first of its sources that has a value. A
//! source is a SCIM attribute path (`name.givenName`, `emails[type eq "work"].value`, a
//! URN-qualified extension attribute) or a function of paths: `first_word(p)`, `last_words(p)`
//! (a name split at its first space) and `join(p, q, …)` (non-empty values joined by spaces).
//! The defaults work with Entra's and Okta's default mappings; a tenant replaces any field's
//! list with `PUT /admin/v1/tenants/{slug}/mapping`.
//!
//! Roles come from `roles` and Okta's `entitlements` (plain values, or JSON serialized into
//! the value as Entra sends app roles) and pass through the tenant's role table when it has
//! one. Permissions come from teams: the tenant's group-permissions table names teams by
//! displayName or externalId; an account has the union of its teams' permissions.

use std::collections::{BTreeMap, BTreeSet};

use proto::{Account, Team};
use scim::ScimError;
use scim::filter::lookup;
use scim::patch::PatchPath;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A tenant's mapping, as stored and as `PUT …/mapping` takes it. Absent lists keep defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    #[serde(default, skip_serializing_if = "AccountSources::is_default")]
    pub account: AccountSources,
    /// Custom account fields: name → sources.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "RoleRules::is_default")]
    pub roles: RoleRules,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Vec<String>>,
}

impl AccountSources {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRules {
    /// Where role values come from; default `roles` then `entitlements`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    /// IdP value → product role (values matched case-insensitively). Without a table, values
    /// pass unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub table: BTreeMap<String, String>,
    /// The role an unknown value gets (with a warning); without one, unknown values are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
}

impl RoleRules {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Team → permissions: keys are a team's displayName (case-insensitive) or externalId.
pub type GroupPermissions = BTreeMap<String, Vec<String>>;

/// Whether a key of the group-permissions table names the team `name` / `external_id`.
fn names_team(key: &str, name: &str, external_id: Option<&str>) -> bool {
    key.eq_ignore_ascii_case(name) || external_id == Some(key)
}

/// A team's permissions in a group-permissions table: the entries for its displayName or
/// externalId, sorted, without repeats.
pub fn team_permissions(table: &GroupPermissions, name: &str, external_id: Option<&str>) -> Vec<String> {
    let mut permissions = BTreeSet::new();
    for (key, granted) in table {
        if names_team(key, name, external_id) {
            permissions.extend(granted.iter().cloned());
        }
    }
    permissions.into_iter().collect()
}

/// Gives a team exactly `permissions` (none: removes its entries). The team keeps the key it
/// has (an operator's externalId key survives renames); a new entry is keyed by externalId
/// when the team has one, else by displayName.
pub fn set_team_permissions(
    table: &mut GroupPermissions,
    name: &str,
    external_id: Option<&str>,
    permissions: Vec<String>,
) {
    let existing: Vec<String> = table.keys().filter(|key| names_team(key, name, external_id)).cloned().collect();
    let key = existing
        .iter()
        .find(|key| external_id == Some(key.as_str()))
        .or(existing.first())
        .cloned()
        .or_else(|| external_id.map(str::to_owned))
        .unwrap_or_else(|| name.to_owned());
    for key in existing {
        table.remove(&key);
    }
    if !permissions.is_empty() {
        table.insert(key, permissions);
    }
}

const DEFAULT_EMAIL: &[&str] =
    &["emails[primary eq true].value", "emails[type eq \"work\"].value", "emails.value", "userName"];
const DEFAULT_GIVEN: &[&str] = &["name.givenName", "first_word(displayName)", "first_word(name.formatted)"];
const DEFAULT_FAMILY: &[&str] = &["name.familyName", "last_words(displayName)", "last_words(name.formatted)"];
const DEFAULT_DISPLAY: &[&str] = &["displayName", "join(name.givenName, name.familyName)", "name.formatted"];
const DEFAULT_ROLES: &[&str] = &["roles", "entitlements"];

/// One source of a field's value.
#[derive(Debug, Clone)]
enum Source {
    Path(String, PatchPath),
    FirstWord(String, PatchPath),
    LastWords(String, PatchPath),
    Join(Vec<(String, PatchPath)>),
}

fn path(text: &str) -> Result<(String, PatchPath), String> {
    let text = text.trim();
    PatchPath::parse(text)
        .map(|path| (text.to_owned(), path))
        .map_err(|e| format!("'{text}' is not a SCIM attribute path: {}", e.detail))
}

impl Source {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let call = |name: &str| {
            text.strip_prefix(name)
                .and_then(|rest| rest.trim_start().strip_prefix('('))
                .and_then(|rest| rest.strip_suffix(')'))
        };
        if let Some(inner) = call("first_word") {
            let (text, path) = path(inner)?;
            return Ok(Self::FirstWord(text, path));
        }
        if let Some(inner) = call("last_words") {
            let (text, path) = path(inner)?;
            return Ok(Self::LastWords(text, path));
        }
        if let Some(inner) = call("join") {
            let parts = inner.split(',').map(path).collect::<Result<Vec<_>, _>>()?;
            if parts.len() < 2 {
                return Err(format!("'{text}': join needs two or more paths"));
            }
            return Ok(Self::Join(parts));
        }
        let (text, path) = path(text)?;
        Ok(Self::Path(text, path))
    }

    /// True when the value is a guess from other attributes (worth a warning).
    fn is_derived(&self) -> bool {
        !matches!(self, Self::Path(..))
    }

    fn describe(&self) -> String {
        match self {
            Self::Path(text, _) => text.clone(),
            Self::FirstWord(text, _) => format!("the first word of {text}"),
            Self::LastWords(text, _) => format!("what follows the first word of {text}"),
            Self::Join(parts) => parts.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(" + "),
        }
    }

    fn value(&self, user: &Value) -> Option<String> {
        let first = |path: &PatchPath| strings(user, path).into_iter().next();
        match self {
            Self::Path(_, path) => first(path),
            Self::FirstWord(_, path) => {
                first(path).and_then(|v| v.split_whitespace().next().map(str::to_owned)).filter(|v| !v.is_empty())
            }
            Self::LastWords(_, path) => first(path)
                .and_then(|v| v.trim().split_once(char::is_whitespace).map(|(_, rest)| rest.trim().to_owned()))
                .filter(|v| !v.is_empty()),
            Self::Join(parts) => {
                let values: Vec<String> = parts.iter().filter_map(|(_, path)| first(path)).collect();
                (!values.is_empty()).then(|| values.join(" "))
            }
        }
    }
}

/// The values a path names in a resource, as strings (objects give their `value`).
fn strings(user: &Value, path: &PatchPath) -> Vec<String> {
    let base = match (&path.extension, &path.attr.schema) {
        (Some(urn), _) => return lookup(user, urn).into_iter().filter_map(scalar).collect(),
        (None, Some(schema)) if !path.attr.is_core() => lookup(user, schema),
        _ => Some(user),
    };
    let Some(value) = base.and_then(|b| lookup(b, &path.attr.name)) else { return Vec::new() };
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let items = items.into_iter().filter(|item| path.filter.as_ref().is_none_or(|filter| filter.matches(item)));
    let sub = path.attr.sub.as_deref().or(path.sub.as_deref());
    items
        .filter_map(|item| match (sub, item) {
            (Some(sub), item) => lookup(item, sub),
            (None, Value::Object(_)) => lookup(item, "value"),
            (None, item) => Some(item),
        })
        .filter_map(scalar)
        .collect()
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn looks_like_email(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !text.contains(char::is_whitespace)
}

/// A field's sources, parsed.
#[derive(Debug, Clone)]
struct Field {
    name: &'static str,
    sources: Vec<Source>,
}

impl Field {
    fn new(name: &'static str, configured: Option<&Vec<String>>, default: &[&str]) -> Result<Self, String> {
        let texts: Vec<&str> = match configured {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => default.to_vec(),
        };
        let sources = texts
            .iter()
            .map(|text| Source::parse(text).map_err(|e| format!("account.{name}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { name, sources })
    }

    /// The first value, with the source that gave it; `accept` filters values (emails).
    fn resolve(&self, user: &Value, accept: impl Fn(&str) -> bool) -> Option<(String, &Source)> {
        self.sources.iter().find_map(|source| source.value(user).filter(|v| accept(v)).map(|v| (v, source)))
    }
}

/// A tenant's rules, compiled: what every write maps with.
#[derive(Debug, Clone)]
pub struct Rules {
    user_name: Field,
    external_id: Field,
    email: Field,
    given_name: Field,
    family_name: Field,
    display_name: Field,
    custom_fields: Vec<(String, Vec<Source>)>,
    role_sources: Vec<(String, PatchPath)>,
    role_table: BTreeMap<String, String>,
    default_role: Option<String>,
    group_permissions: GroupPermissions,
}

impl Default for Rules {
    fn default() -> Self {
        Self::compile(&MappingConfig::default(), &GroupPermissions::new()).unwrap_or_else(|_| unreachable_defaults())
    }
}

fn unreachable_defaults() -> Rules {
    // The default sources are constants covered by tests; they always parse.
    panic!("the default mapping does not compile")
}

impl Rules {
    /// Compiles (and so validates) a mapping and a group-permissions table; the error names the
    /// field and what is wrong.
    pub fn compile(config: &MappingConfig, group_permissions: &GroupPermissions) -> Result<Self, String> {
        let sources = &config.account;
        let mut custom_fields = Vec::new();
        for (name, list) in &config.custom_fields {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(format!("custom_fields: '{name}' must be 1 to 64 letters, digits, '_' or '-'"));
            }
            if list.is_empty() {
                return Err(format!("custom_fields.{name}: give at least one source"));
            }
            let parsed = list
                .iter()
                .map(|text| Source::parse(text).map_err(|e| format!("custom_fields.{name}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            custom_fields.push((name.clone(), parsed));
        }
        let role_texts: Vec<String> =
            config.roles.sources.clone().unwrap_or_else(|| DEFAULT_ROLES.iter().map(|s| (*s).to_owned()).collect());
        let role_sources = role_texts
            .iter()
            .map(|text| path(text).map_err(|e| format!("roles.sources: {e}")))
            .collect::<Result<_, _>>()?;
        for (from, to) in &config.roles.table {
            if from.trim().is_empty() || to.trim().is_empty() {
                return Err("roles.table: values and roles may not be empty".to_owned());
            }
        }
        if config.roles.default_role.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err("roles.default_role may not be empty".to_owned());
        }
        for (team, permissions) in group_permissions {
            if team.trim().is_empty() {
                return Err("group permissions: a team name or externalId may not be empty".to_owned());
            }
            if permissions.iter().any(|p| p.trim().is_empty() || p.len() > 200) {
                return Err(format!("group permissions of '{team}': each permission is 1 to 200 characters"));
            }
        }
        Ok(Self {
            user_name: Field::new("user_name", sources.user_name.as_ref(), &["userName"])?,
            external_id: Field::new("external_id", sources.external_id.as_ref(), &["externalId"])?,
            email: Field::new("email", sources.email.as_ref(), DEFAULT_EMAIL)?,
            given_name: Field::new("given_name", sources.given_name.as_ref(), DEFAULT_GIVEN)?,
            family_name: Field::new("family_name", sources.family_name.as_ref(), DEFAULT_FAMILY)?,
            display_name: Field::new("display_name", sources.display_name.as_ref(), DEFAULT_DISPLAY)?,
            custom_fields,
            role_sources,
            role_table: config.roles.table.iter().map(|(k, v)| (k.to_lowercase(), v.trim().to_owned())).collect(),
            default_role: config.roles.default_role.as_ref().map(|r| r.trim().to_owned()),
            group_permissions: group_permissions.clone(),
        })
    }

    /// The email a user would get (for linking to an account the product made by hand).
    pub fn email(&self, attributes: &Map<String, Value>) -> Option<String> {
        let user = Value::Object(attributes.clone());
        self.email.resolve(&user, looks_like_email).map(|(value, _)| value)
    }

    /// The account of a user, and what mapping it warns about: empty fields and guessed values,
    /// each naming the attribute to fill in (for the request's provisioning log entry).
    pub fn account(&self, user: &UserFacts<'_>) -> (Account, Vec<String>) {
        let object = Value::Object(user.attributes.clone());
        let warnings = std::cell::RefCell::new(Vec::new());
        let warn = |message: String| warnings.borrow_mut().push(message);
        let resolve = |field: &Field, accept: &dyn Fn(&str) -> bool| -> Option<String> {
            match field.resolve(&object, accept) {
                Some((value, source)) => {
                    if source.is_derived() && matches!(field.name, "given_name" | "family_name") {
                        let wanted = field.sources.first().map(Source::describe).unwrap_or_default();
                        warn(format!(
                            "account {}: the IdP sent no {wanted}, so {} was used; map it in the IdP's attribute mapping",
                            field.name,
                            source.describe()
                        ));
                    }
                    Some(value)
                }
                None => {
                    if matches!(field.name, "email" | "given_name" | "family_name") {
                        let tried: Vec<String> = field.sources.iter().map(Source::describe).collect();
                        warn(format!(
                            "account {} is empty: the IdP sent none of {}; map one of them in the IdP's attribute mapping",
                            field.name,
                            tried.join(", ")
                        ));
                    }
                    None
                }
            }
        };
        let any = |_: &str| true;
        let custom_fields = self
            .custom_fields
            .iter()
            .filter_map(|(name, sources)| sources.iter().find_map(|s| s.value(&object)).map(|v| (name.clone(), v)))
            .collect();
        let account = Account {
            id: user.account_id.to_owned(),
            tenant_id: user.tenant_id.to_owned(),
            user_name: resolve(&self.user_name, &any).unwrap_or_else(|| user.user_name.to_owned()),
            external_id: resolve(&self.external_id, &any),
            active: user.active,
            email: resolve(&self.email, &looks_like_email),
            given_name: resolve(&self.given_name, &any),
            family_name: resolve(&self.family_name, &any),
            display_name: resolve(&self.display_name, &any),
            roles: self.roles(&object, &warn),
            teams: Vec::new(),
            permissions: user.permissions.to_vec(),
            custom_fields,
            scim_user_id: user.scim_user_id.to_owned(),
        };
        (account, warnings.into_inner())
    }

    fn roles(&self, user: &Value, warn: &dyn Fn(String)) -> Vec<String> {
        let mut roles: Vec<String> = Vec::new();
        for (_, path) in &self.role_sources {
            for value in role_values(user, path) {
                let role = if self.role_table.is_empty() {
                    Some(value)
                } else {
                    match self.role_table.get(&value.to_lowercase()) {
                        Some(role) => Some(role.clone()),
                        None => {
                            match &self.default_role {
                                Some(default) => warn(format!(
                                    "role '{value}' is not in the tenant's role table; the default role '{default}' was given"
                                )),
                                None => warn(format!(
                                    "role '{value}' is not in the tenant's role table and there is no default role; it was left out"
                                )),
                            }
                            self.default_role.clone()
                        }
                    }
                };
                if let Some(role) = role.filter(|r| !roles.contains(r)) {
                    roles.push(role);
                }
            }
        }
        roles
    }

    /// A team's permissions: the table's entries for its displayName or externalId.
    pub fn team_permissions(&self, name: &str, external_id: Option<&str>) -> Vec<String> {
        team_permissions(&self.group_permissions, name, external_id)
    }

    pub fn team(&self, tenant_id: &str, id: &str, attributes: &Map<String, Value>, member_ids: Vec<String>) -> Team {
        let object = Value::Object(attributes.clone());
        let name = scalar_at(&object, "displayName").unwrap_or_default();
        let external_id = scalar_at(&object, "externalId");
        Team {
            id: id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            permissions: self.team_permissions(&name, external_id.as_deref()),
            name,
            external_id,
            member_ids,
        }
    }
}

fn scalar_at(object: &Value, name: &str) -> Option<String> {
    lookup(object, name).and_then(scalar)
}

/// What a user's account is made from.
pub struct UserFacts<'a> {
    pub tenant_id: &'a str,
    pub account_id: &'a str,
    pub scim_user_id: &'a str,
    pub user_name: &'a str,
    pub active: bool,
    pub attributes: &'a Map<String, Value>,
    pub permissions: &'a [String],
}

/// The role values at a path. Entra's app-role assignments (SingleAppRoleAssignment,
/// AppRoleAssignmentsComplex) send each role as a JSON object serialized into the `value`
/// string, `{"id": …, "value": "Admin", "displayName": …}`: its `value` (else `displayName`)
/// is the role. Okta's entitlements are `{value, display}` objects.
fn role_values(user: &Value, path: &PatchPath) -> Vec<String> {
    strings(user, path)
        .into_iter()
        .filter_map(|value| match serde_json::from_str::<Value>(&value) {
            Ok(inner @ Value::Object(_)) => scalar_at(&inner, "value").or_else(|| scalar_at(&inner, "displayName")),
            _ => Some(value),
        })
        .collect()
}

/// A record as named fields (JSON values), to compare versions and publish what changed.
pub fn account_fields(account: &Account) -> BTreeMap<String, Value> {
    let mut fields = BTreeMap::from([
        ("user_name".to_owned(), Value::from(account.user_name.clone())),
        ("external_id".to_owned(), Value::from(account.external_id.clone())),
        ("active".to_owned(), Value::from(account.active)),
        ("email".to_owned(), Value::from(account.email.clone())),
        ("given_name".to_owned(), Value::from(account.given_name.clone())),
        ("family_name".to_owned(), Value::from(account.family_name.clone())),
        ("display_name".to_owned(), Value::from(account.display_name.clone())),
        ("roles".to_owned(), Value::from(account.roles.clone())),
        ("permissions".to_owned(), Value::from(account.permissions.clone())),
    ]);
    for (name, value) in &account.custom_fields {
        fields.insert(format!("custom_fields.{name}"), Value::from(value.clone()));
    }
    fields
}

pub fn team_fields(team: &Team) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("name".to_owned(), Value::from(team.name.clone())),
        ("external_id".to_owned(), Value::from(team.external_id.clone())),
        ("permissions".to_owned(), Value::from(team.permissions.clone())),
    ])
}

/// The fields that differ between two records (a field missing on one side is null there).
pub fn changes(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<proto::FieldChange> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (before.get(name).unwrap_or(&Value::Null), after.get(name).unwrap_or(&Value::Null));
            (old != new).then(|| proto::FieldChange {
                field: name.clone(),
                before_json: old.to_string(),
                after_json: new.to_string(),
            })
        })
        .collect()
}

/// Parses stored or submitted mapping JSON.
pub fn parse_config(text: &str) -> Result<MappingConfig, ScimError> {
    serde_json::from_str(text).map_err(|e| ScimError::invalid_value(format!("invalid mapping: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn map(rules: &Rules, user: Value) -> (Account, Vec<String>) {
        let attributes = attrs(user);
        let user_name = attributes.get("userName").and_then(Value::as_str).unwrap_or("u").to_owned();
        rules.account(&UserFacts {
            tenant_id: "t",
            account_id: "a",
            scim_user_id: "s",
            user_name: &user_name,
            active: true,
            attributes: &attributes,
            permissions: &[],
        })
    }

    #[test]
    fn email_prefers_primary_then_work_then_first_then_user_name() {
        let rules = Rules::default();
        let primary = json!({"userName": "u", "emails": [
            {"type": "work", "value": "w@x.io"}, {"type": "home", "value": "p@x.io", "primary": true}]});
        assert_eq!(map(&rules, primary).0.email.as_deref(), Some("p@x.io"));
        let work = json!({"userName": "u", "emails": [{"type": "home", "value": "h@x.io"}, {"type": "Work", "value": "w@x.io"}]});
        assert_eq!(map(&rules, work).0.email.as_deref(), Some("w@x.io"));
        let first = json!({"userName": "u", "emails": [{"type": "home", "value": "h@x.io"}, {"value": "o@x.io"}]});
        assert_eq!(map(&rules, first).0.email.as_deref(), Some("h@x.io"));
        assert_eq!(map(&rules, json!({"userName": "jane@x.io"})).0.email.as_deref(), Some("jane@x.io"));
        let (account, warnings) = map(&rules, json!({"userName": "jdoe"}));
        assert_eq!(account.email, None, "a userName that is not an address is no email");
        assert!(warnings.iter().any(|w| w.starts_with("account email is empty")), "{warnings:?}");
    }

    #[test]
    fn names_fall_back_to_display_name_with_a_warning() {
        let rules = Rules::default();
        let (account, warnings) = map(&rules, json!({"userName": "u", "displayName": "Ada King Lovelace"}));
        assert_eq!(account.given_name.as_deref(), Some("Ada"));
        assert_eq!(account.family_name.as_deref(), Some("King Lovelace"));
        assert_eq!(account.display_name.as_deref(), Some("Ada King Lovelace"));
        assert!(warnings.iter().any(|w| w.contains("given_name") && w.contains("name.givenName")), "{warnings:?}");
        let (account, warnings) =
            map(&rules, json!({"userName": "grace@x.io", "name": {"givenName": "Grace", "familyName": "Hopper"}}));
        assert_eq!(account.display_name.as_deref(), Some("Grace Hopper"), "display ← given + family");
        assert!(warnings.is_empty(), "{warnings:?}");
        let (account, _) = map(&rules, json!({"userName": "u", "name": {"formatted": "Alan Turing"}}));
        assert_eq!((account.given_name.as_deref(), account.family_name.as_deref()), (Some("Alan"), Some("Turing")));
    }

    #[test]
    fn configured_sources_custom_fields_and_roles() {
        let config: MappingConfig = serde_json::from_value(json!({
            "account": {"email": ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "emails.value"]},
            "custom_fields": {"department": ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"],
                              "phone": ["phoneNumbers[type eq \"mobile\"].value"]},
            "roles": {"table": {"Approver": "approver", "admin": "owner"}, "default_role": "member"}
        }))
        .unwrap();
        let rules = Rules::compile(&config, &GroupPermissions::new()).unwrap();
        let (account, warnings) = map(
            &rules,
            json!({"userName": "u", "emails": [{"value": "e@x.io"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
                "phoneNumbers": [{"type": "work", "value": "1"}, {"type": "mobile", "value": "2"}],
                "roles": [{"value": "{\"id\":\"1\",\"value\":\"Approver\"}"}, {"value": "ADMIN"}, {"value": "Intern"}],
                "entitlements": [{"value": "admin"}]}),
        );
        assert_eq!(account.email.as_deref(), Some("e@x.io"), "the first source is empty, the second gives");
        assert_eq!(account.custom_fields.get("department").map(String::as_str), Some("R&D"));
        assert_eq!(account.custom_fields.get("phone").map(String::as_str), Some("2"));
        assert_eq!(account.roles, vec!["approver", "owner", "member"]);
        assert!(warnings.iter().any(|w| w.contains("'Intern'") && w.contains("'member'")), "{warnings:?}");
        let passthrough = map(&Rules::default(), json!({"userName": "u", "roles": [{"value": "Intern"}]})).0;
        assert_eq!(passthrough.roles, vec!["Intern"], "without a table values pass unchanged");
    }

    #[test]
    fn bad_mappings_are_refused_with_the_field_named() {
        let bad = |config: Value| {
            let config: MappingConfig = serde_json::from_value(config).unwrap();
            Rules::compile(&config, &GroupPermissions::new()).unwrap_err()
        };
        assert!(bad(json!({"account": {"email": ["emails[type eq"]}})).starts_with("account.email"));
        assert!(bad(json!({"account": {"given_name": ["join(name.givenName)"]}})).contains("join"));
        assert!(bad(json!({"custom_fields": {"bad name": ["title"]}})).contains("custom_fields"));
        assert!(bad(json!({"custom_fields": {"x": []}})).contains("custom_fields.x"));
        assert!(bad(json!({"roles": {"table": {"a": ""}}})).contains("roles.table"));
        assert!(parse_config(r#"{"acount": {}}"#).is_err());
        let permissions = GroupPermissions::from([("".to_owned(), vec!["x".to_owned()])]);
        assert!(Rules::compile(&MappingConfig::default(), &permissions).is_err());
    }

    #[test]
    fn a_teams_permissions_are_set_under_the_key_it_has() {
        let mut table = GroupPermissions::from([
            ("ext-1".to_owned(), vec!["old".to_owned()]),
            ("ENGINEERING".to_owned(), vec!["older".to_owned()]),
            ("Sales".to_owned(), vec!["sell".to_owned()]),
        ]);
        set_team_permissions(&mut table, "Engineering", Some("ext-1"), vec!["deploy".to_owned()]);
        assert_eq!(
            table,
            GroupPermissions::from([
                ("ext-1".to_owned(), vec!["deploy".to_owned()]),
                ("Sales".to_owned(), vec!["sell".to_owned()]),
            ]),
            "one entry, under the externalId it had; other teams untouched"
        );
        set_team_permissions(&mut table, "sales", None, vec!["sell".to_owned(), "quote".to_owned()]);
        assert_eq!(table["Sales"], ["sell", "quote"], "a displayName key is kept");
        set_team_permissions(&mut table, "Finance", Some("ext-9"), vec!["billing".to_owned()]);
        assert_eq!(table["ext-9"], ["billing"], "a new entry is keyed by externalId");
        set_team_permissions(&mut table, "Marketing", None, vec!["post".to_owned()]);
        assert_eq!(table["Marketing"], ["post"]);
        set_team_permissions(&mut table, "Engineering", Some("ext-1"), Vec::new());
        assert!(!table.contains_key("ext-1"), "none removes the entry");
        assert_eq!(team_permissions(&table, "SALES", None), ["quote", "sell"]);
    }

    #[test]
    fn team_permissions_by_name_or_external_id_and_record_changes() {
        let permissions = GroupPermissions::from([
            ("Engineering".to_owned(), vec!["deploy".to_owned(), "read".to_owned()]),
            ("ext-42".to_owned(), vec!["billing".to_owned()]),
        ]);
        let rules = Rules::compile(&MappingConfig::default(), &permissions).unwrap();
        assert_eq!(rules.team_permissions("engineering", None), vec!["deploy", "read"]);
        assert_eq!(rules.team_permissions("Finance", Some("ext-42")), vec!["billing"]);
        assert!(rules.team_permissions("Other", None).is_empty());
        let team = rules.team("t", "g", &attrs(json!({"displayName": "Engineering"})), vec![]);
        let mut renamed = team.clone();
        renamed.name = "Eng".to_owned();
        renamed.permissions = Vec::new();
        let changed = changes(&team_fields(&team), &team_fields(&renamed));
        let names: Vec<&str> = changed.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(names, ["name", "permissions"]);
        assert_eq!(changed[0].before_json, "\"Engineering\"");
        assert_eq!(changed[1].after_json, "[]");
    }
}
