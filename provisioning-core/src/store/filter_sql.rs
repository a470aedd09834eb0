//! SCIM filters → SQL for every attribute, on PostgreSQL and SQLite alike: nothing is filtered
//! in memory.
//!
//! How each kind of filter is pushed down:
//! - attributes with a column of their own compare on it, through its index: `id`,
//!   `userName` (lowercased key), `externalId`, `active`, a Group's `displayName` (lowercased
//!   key), `meta.created` / `meta.lastModified` (timestamps), `meta.version`;
//! - `emails` / `emails.value` use the `scim_user_emails` lookup table (lowercased, indexed by
//!   tenant and value), and a valuePath on `emails` that pins `value eq` adds that lookup too;
//! - a Group's `members` / `members.value` and a User's `groups` / `groups.value` use the
//!   `group_members` rows (indexed both ways);
//! - every other attribute, core or extension, single- or multi-valued, sub-attribute or
//!   valuePath, is read from the stored JSON with the database's JSON functions (`jsonb #>>` /
//!   `jsonb_array_elements` on PostgreSQL, `json_extract` / `json_each` on SQLite): correct for
//!   any attribute, a scan of the tenant's rows rather than an index lookup.
//!
//! Comparison follows the attribute's characteristics: `caseExact` false compares lowercased;
//! booleans, numbers and dateTimes compare as such; a multi-valued attribute matches when any
//! value does. No leaf is ever NULL, so `not (…)` of an absent value is true, as the in-memory
//! evaluator says: JSON leaves are wrapped in `COALESCE(…, FALSE)`, NOT NULL columns compare
//! bare and `externalId` as `external_id IS NOT NULL AND …`, so that their indexes serve.

use diesel::expression::BoxableExpression;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Text};
use platform::db::{Backend, DbBackend, fold_function};
use scim::filter::{MAX_FILTER_DEPTH, as_bool};
use scim::schema::{AttributeDef, AttributeType, SchemaRegistry};
use scim::{AttrPath, CompareOp, Filter, ResourceType, ScimError};
use serde_json::Value;

/// A boolean SQL condition usable on table `T`.
pub type Predicate<T> = Box<dyn BoxableExpression<T, DbBackend, SqlType = Bool>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueType {
    String,
    Boolean,
    Number,
    /// A timestamp column (microseconds): `meta.created`, `meta.lastModified`.
    DateTime,
    /// A dateTime in the stored JSON: compared as RFC 3339 text.
    DateTimeText,
}

/// What the translation needs to know of the table it filters.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    pub kind: ResourceType,
    /// The SQL name of the table, to qualify its columns inside subqueries.
    pub name: &'static str,
    pub backend: Backend,
    /// The tenant's schemas: the characteristics of every attribute.
    pub registry: &'a SchemaRegistry,
}

/// A literal SQL fragment with its bind values, assembled before it becomes a diesel expression.
#[derive(Debug, Clone, Default)]
struct Fragment {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Sql(String),
    Text(String),
    Int(i64),
    Float(f64),
    SmallInt(i32),
}

impl Fragment {
    fn sql(mut self, text: &str) -> Self {
        self.parts.push(Part::Sql(text.to_owned()));
        self
    }

    fn text(mut self, value: impl Into<String>) -> Self {
        self.parts.push(Part::Text(value.into()));
        self
    }

    fn int(mut self, value: i64) -> Self {
        self.parts.push(Part::Int(value));
        self
    }

    fn float(mut self, value: f64) -> Self {
        self.parts.push(Part::Float(value));
        self
    }

    fn small_int(mut self, value: i32) -> Self {
        self.parts.push(Part::SmallInt(value));
        self
    }

    fn append(mut self, other: Fragment) -> Self {
        self.parts.extend(other.parts);
        self
    }

    /// The fragment as a diesel expression: literal SQL with its values bound in order.
    fn into_predicate<T: 'static>(self) -> Predicate<T> {
        Box::new(Raw::<Bool> { parts: self.parts, wrap: true, sql_type: std::marker::PhantomData })
    }
}

/// A SQL expression made of literal SQL and bound values: valid on any table, since it names
/// its columns itself.
pub struct Raw<ST> {
    parts: Vec<Part>,
    /// Parenthesized (an expression), or as is (an ORDER BY term with its direction).
    wrap: bool,
    sql_type: std::marker::PhantomData<ST>,
}

impl<ST> diesel::query_builder::QueryId for Raw<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST: diesel::expression::TypedExpressionType> diesel::Expression for Raw<ST> {
    type SqlType = ST;
}

impl<ST> diesel::query_builder::QueryFragment<DbBackend> for Raw<ST> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DbBackend>) -> diesel::QueryResult<()> {
        // The SQL text depends on the filter: never cache it as one prepared statement.
        out.unsafe_to_cache_prepared();
        if self.wrap {
            out.push_sql("(");
        }
        for part in &self.parts {
            match part {
                Part::Sql(text) => out.push_sql(text),
                Part::Text(value) => out.push_bind_param::<Text, String>(value)?,
                Part::Int(value) => out.push_bind_param::<BigInt, i64>(value)?,
                Part::Float(value) => out.push_bind_param::<Double, f64>(value)?,
                Part::SmallInt(value) => out.push_bind_param::<Integer, i32>(value)?,
            }
        }
        if self.wrap {
            out.push_sql(")");
        }
        Ok(())
    }
}

impl<QS, ST> diesel::AppearsOnTable<QS> for Raw<ST> where Raw<ST>: diesel::Expression {}
impl<QS, ST> diesel::SelectableExpression<QS> for Raw<ST> where Raw<ST>: diesel::Expression {}
impl<ST> diesel::expression::ValidGrouping<()> for Raw<ST> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

/// An ORDER BY term: `sortBy` on any attribute, ascending or descending, missing values last.
pub type SortTerm = Raw<Text>;

/// The ORDER BY term of `sortBy` for `table`.
pub fn sort_term(table: Table<'_>, path: &AttrPath, descending: bool) -> Result<SortTerm, ScimError> {
    let backend = table.backend;
    let key = match locate(table, path).map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.detail)))? {
        Location::Column { sql, .. } => Fragment::default().sql(&format!("{}.{sql}", table.name)),
        Location::Json { path: json_path, value_type, case_exact } => {
            let text = json_text(backend, &format!("{}.attributes", table.name), &json_path);
            if value_type == ValueType::String && !case_exact {
                Fragment::default().sql(&format!("{}(", fold_function(backend))).append(text).sql(")")
            } else {
                text
            }
        }
        Location::JsonArray { path: json_path, sub, case_exact, .. } => {
            // A multi-valued attribute sorts by its first value.
            let document = format!("{}.attributes", table.name);
            let first = match backend {
                Backend::Postgres => {
                    let mut keys = json_path.clone();
                    keys.push("0".to_owned());
                    keys.extend(sub.clone());
                    json_text(backend, &document, &keys)
                }
                Backend::Sqlite => {
                    let mut json = sqlite_path(&json_path);
                    json.push_str("[0]");
                    if let Some(sub) = &sub {
                        json.push_str(&format!(".\"{}\"", sub.replace('"', "\\\"")));
                    }
                    Fragment::default().sql(&format!("json_extract({document}, ")).text(json).sql(")")
                }
            };
            if case_exact {
                first
            } else {
                Fragment::default().sql(&format!("{}(", fold_function(backend))).append(first).sql(")")
            }
        }
        Location::Membership | Location::ResourceType => {
            return Err(ScimError::invalid_value(format!("sortBy: cannot sort on '{path}'")));
        }
    };
    let direction = if descending { " DESC NULLS LAST" } else { " ASC NULLS LAST" };
    let parts = Fragment::default().sql("(").append(key).sql(")").sql(direction).parts;
    Ok(Raw { parts, wrap: false, sql_type: std::marker::PhantomData })
}

/// Translates a filter for `table`.
pub fn predicate<T: 'static>(table: Table<'_>, filter: &Filter) -> Result<Predicate<T>, ScimError> {
    Ok(translate(table, filter, 0)?.into_predicate())
}

fn translate(table: Table<'_>, filter: &Filter, depth: usize) -> Result<Fragment, ScimError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(ScimError::invalid_filter("the filter is nested too deeply"));
    }
    // A chain of one operator (`a or b or c …`) is one level, however long.
    let and_depth = |f: &Filter| if matches!(f, Filter::And(..)) { depth } else { depth + 1 };
    let or_depth = |f: &Filter| if matches!(f, Filter::Or(..)) { depth } else { depth + 1 };
    Ok(match filter {
        Filter::And(a, b) => Fragment::default()
            .sql("(")
            .append(translate(table, a, and_depth(a))?)
            .sql(" AND ")
            .append(translate(table, b, and_depth(b))?)
            .sql(")"),
        Filter::Or(a, b) => Fragment::default()
            .sql("(")
            .append(translate(table, a, or_depth(a))?)
            .sql(" OR ")
            .append(translate(table, b, or_depth(b))?)
            .sql(")"),
        Filter::Not(inner) => Fragment::default().sql("(NOT ").append(translate(table, inner, depth + 1)?).sql(")"),
        Filter::Present(path) => attribute_condition(table, path, None)?,
        Filter::Compare { path, op, value } => attribute_condition(table, path, Some((*op, value)))?,
        Filter::ValuePath { path, filter } => value_path(table, path, filter, depth)?,
    })
}

/// Where an attribute lives.
enum Location {
    /// A column of the table (or an expression over columns), with how to compare it.
    Column { sql: &'static str, value_type: ValueType, folded: bool },
    /// A Group's members, or a User's groups: rows of `group_members`.
    Membership,
    /// A single value in the stored JSON.
    Json { path: Vec<String>, value_type: ValueType, case_exact: bool },
    /// A multi-valued attribute in the stored JSON; `sub` is the sub-attribute compared
    /// (`value` when the filter names the attribute alone), `None` for arrays of plain values.
    JsonArray { path: Vec<String>, sub: Option<String>, value_type: ValueType, case_exact: bool },
    /// `meta.resourceType`: a constant.
    ResourceType,
}

fn value_type(attribute: &AttributeDef) -> ValueType {
    match attribute.r#type {
        AttributeType::Boolean => ValueType::Boolean,
        AttributeType::Integer | AttributeType::Decimal => ValueType::Number,
        AttributeType::DateTime => ValueType::DateTimeText,
        AttributeType::String | AttributeType::Reference | AttributeType::Binary | AttributeType::Complex => {
            ValueType::String
        }
    }
}

/// Where `path` lives for this table. Attribute characteristics (type, multiValued, caseExact)
/// come from the schema registry; attributes of undeclared extensions (Entra sends them) are
/// single-valued strings; unknown core attributes are refused.
fn locate(table: Table<'_>, path: &AttrPath) -> Result<Location, ScimError> {
    let kind = table.kind;
    let path = &scim::schema::qualified_path(kind, path);
    let core = path.schema.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(kind.core_schema()));
    if core {
        let name = kind.canonical_attribute(&path.name);
        let sub = path.sub.as_deref().map(scim::schema::canonical_sub_attribute);
        let column = |sql, value_type, folded| Ok(Location::Column { sql, value_type, folded });
        match (kind, name.as_str(), sub.as_deref()) {
            (_, "id", None) => return column("id", ValueType::String, false),
            (_, "externalId", None) => return column("external_id", ValueType::String, false),
            (ResourceType::User, "userName", None) => return column("user_name_key", ValueType::String, true),
            (ResourceType::User, "active", None) => return column("active", ValueType::Boolean, false),
            (ResourceType::Group, "displayName", None) => return column("display_name_key", ValueType::String, true),
            (_, "meta", Some("created")) => return column("created_at", ValueType::DateTime, false),
            (_, "meta", Some("lastModified")) => return column("updated_at", ValueType::DateTime, false),
            (_, "meta", Some("version")) => return column("version", ValueType::Number, false),
            (_, "meta", Some("resourceType")) => return Ok(Location::ResourceType),
            (ResourceType::Group, "members", None | Some("value")) => return Ok(Location::Membership),
            (ResourceType::User, "groups", None | Some("value")) => return Ok(Location::Membership),
            (_, "meta" | "members" | "groups", _) => {
                return Err(ScimError::invalid_filter(format!("filtering on '{path}' is not supported")));
            }
            _ => {}
        }
    }
    let Some(resolved) = table.registry.resolve(kind, path) else {
        if core {
            return Err(ScimError::invalid_filter(format!("'{path}' is not an attribute of {}", kind.name())));
        }
        // An undeclared extension: its values as sent, compared as strings.
        let schema = kind.canonical_attribute(path.schema.as_deref().unwrap_or_default());
        let mut json_path = vec![schema, path.name.clone()];
        json_path.extend(path.sub.clone());
        return Ok(Location::Json { path: json_path, value_type: ValueType::String, case_exact: false });
    };
    let mut json_path = Vec::new();
    if resolved.is_extension() {
        json_path.push(resolved.schema.to_owned());
    }
    json_path.push(resolved.attribute.name.clone());
    let target = resolved.target();
    let case_exact = target.case_exact;
    if resolved.attribute.multi_valued {
        // `emails` alone compares the values' `value`; a multi-valued simple attribute its items.
        let sub = match (resolved.sub_attribute, resolved.attribute.r#type) {
            (Some(sub), _) => Some(sub.name.clone()),
            (None, AttributeType::Complex) => Some("value".to_owned()),
            (None, _) => None,
        };
        let compared = match (resolved.sub_attribute, &sub) {
            (Some(sub), _) => value_type(sub),
            (None, Some(value)) => resolved.attribute.sub_attribute(value).map_or(ValueType::String, value_type),
            (None, None) => value_type(resolved.attribute),
        };
        return Ok(Location::JsonArray { path: json_path, sub, value_type: compared, case_exact });
    }
    if let Some(sub) = resolved.sub_attribute {
        json_path.push(sub.name.clone());
    }
    Ok(Location::Json { path: json_path, value_type: value_type(target), case_exact })
}

/// The type and caseExact of a sub-attribute of a multi-valued attribute, inside a valuePath.
fn element_characteristics(table: Table<'_>, array: &[String], sub: &str) -> (ValueType, bool) {
    let (schema, name) = match array {
        [schema, name] => (Some(schema.clone()), name.clone()),
        [name] => (None, name.clone()),
        _ => return (ValueType::String, false),
    };
    let path = AttrPath { schema, name, sub: Some(sub.to_owned()) };
    match table.registry.resolve(table.kind, &path) {
        Some(resolved) => (value_type(resolved.target()), resolved.target().case_exact),
        None => (ValueType::String, false),
    }
}

/// The value expression of a JSON location as text, on this backend.
fn json_text(backend: Backend, document: &str, path: &[String]) -> Fragment {
    match backend {
        Backend::Postgres => {
            Fragment::default().sql(&format!("(({document})::jsonb #>> CAST(")).text(pg_path(path)).sql(" AS text[]))")
        }
        Backend::Sqlite => {
            Fragment::default().sql(&format!("json_extract({document}, ")).text(sqlite_path(path)).sql(")")
        }
    }
}

/// `{"a","b"}`: a PostgreSQL text[] literal of the keys, each quoted.
fn pg_path(path: &[String]) -> String {
    let keys: Vec<String> =
        path.iter().map(|k| format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))).collect();
    format!("{{{}}}", keys.join(","))
}

/// `$."a"."b"`: a SQLite JSON path of the keys, each quoted.
fn sqlite_path(path: &[String]) -> String {
    let mut out = String::from("$");
    for key in path {
        out.push_str(&format!(".\"{}\"", key.replace('"', "\\\"")));
    }
    out
}

/// `EXISTS (SELECT 1 FROM <elements of the array at path> WHERE <condition on the element>)`.
fn exists_element(
    table: Table<'_>,
    path: &[String],
    condition: impl FnOnce(&str) -> Result<Fragment, ScimError>,
) -> Result<Fragment, ScimError> {
    let document = format!("{}.attributes", table.name);
    Ok(match table.backend {
        Backend::Postgres => {
            let array = Fragment::default()
                .sql(&format!("(({document})::jsonb #> CAST("))
                .text(pg_path(path))
                .sql(" AS text[]))");
            Fragment::default()
                .sql("EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(")
                .append(array.clone())
                .sql(") = 'array' THEN ")
                .append(array)
                .sql(" ELSE '[]'::jsonb END) AS scim_element(value) WHERE ")
                .append(condition("scim_element.value")?)
                .sql(")")
        }
        // Only a list has elements (json_each would walk an object's members).
        Backend::Sqlite => Fragment::default()
            .sql(&format!("EXISTS (SELECT 1 FROM json_each({document}, "))
            .text(sqlite_path(path))
            .sql(&format!(") AS scim_element WHERE json_type({document}, "))
            .text(sqlite_path(path))
            .sql(") = 'array' AND ")
            .append(condition("scim_element.value")?)
            .sql(")"),
    })
}

/// The text of an array element, or of one of its sub-attributes.
fn element_text(backend: Backend, element: &str, sub: Option<&str>) -> Fragment {
    match (backend, sub) {
        // json_extract fails on an element that is not JSON text: only objects have sub-attributes.
        (Backend::Sqlite, Some(sub)) => Fragment::default()
            .sql("(CASE WHEN scim_element.type = 'object' THEN ")
            .append(json_text(backend, element, &[sub.to_owned()]))
            .sql(" END)"),
        (_, Some(sub)) => json_text(backend, element, &[sub.to_owned()]),
        (Backend::Postgres, None) => Fragment::default().sql(&format!("({element} #>> '{{}}')")),
        (Backend::Sqlite, None) => Fragment::default().sql(element),
    }
}

fn attribute_condition(
    table: Table<'_>,
    path: &AttrPath,
    comparison: Option<(CompareOp, &Value)>,
) -> Result<Fragment, ScimError> {
    // `ne` is `not eq` everywhere: for a multi-valued attribute, no value is equal (not "some
    // value differs"), and a resource without the attribute is not equal.
    if let Some((CompareOp::Ne, literal)) = comparison {
        let equal = attribute_condition(table, path, Some((CompareOp::Eq, literal)))?;
        return Ok(Fragment::default().sql("(NOT ").append(equal).sql(")"));
    }
    let backend = table.backend;
    match locate(table, path)? {
        Location::ResourceType => {
            let matches = match comparison {
                None => true,
                Some((op, value)) => {
                    let Value::String(value) = value else {
                        return Err(ScimError::invalid_filter("meta.resourceType is compared with a string"));
                    };
                    let equal = value.eq_ignore_ascii_case(table.kind.name());
                    match op {
                        CompareOp::Eq => equal,
                        CompareOp::Ne => !equal,
                        _ => return Err(ScimError::invalid_filter("meta.resourceType supports eq and ne")),
                    }
                }
            };
            Ok(Fragment::default().sql(if matches { "TRUE" } else { "FALSE" }))
        }
        Location::Column { sql: column, value_type, folded } => {
            let qualified = format!("{}.{column}", table.name);
            let condition =
                compare(backend, Fragment::default().sql(&qualified), value_type, !folded, folded, comparison)?;
            // Columns are compared bare, so that their indexes serve the filter: NOT NULL ones
            // never yield NULL, and the one nullable column is guarded instead of COALESCEd.
            Ok(if column == "external_id" {
                Fragment::default().sql(&format!("({qualified} IS NOT NULL AND ")).append(condition).sql(")")
            } else {
                condition
            })
        }
        Location::Membership => membership(table, comparison),
        Location::Json { path: json_path, value_type, case_exact } => {
            let value = json_text(backend, &format!("{}.attributes", table.name), &json_path);
            compare(backend, value, value_type, case_exact, false, comparison).map(coalesce)
        }
        Location::JsonArray { path: json_path, sub, value_type, case_exact } => {
            let indexed = emails_lookup(table, &json_path, sub.as_deref(), comparison);
            let scan = exists_element(table, &json_path, |element| {
                compare(
                    backend,
                    element_text(backend, element, sub.as_deref()),
                    value_type,
                    case_exact,
                    false,
                    comparison,
                )
                .map(coalesce)
            })?;
            Ok(match indexed {
                Some(lookup) => Fragment::default().sql("(").append(lookup).sql(")"),
                None => scan,
            })
        }
    }
}

/// `emails eq "x"` / `emails.value eq "x"` through the indexed lookup table.
fn emails_lookup(
    table: Table<'_>,
    path: &[String],
    sub: Option<&str>,
    comparison: Option<(CompareOp, &Value)>,
) -> Option<Fragment> {
    let is_email_value = table.kind == ResourceType::User && path == ["emails"] && sub == Some("value");
    match comparison {
        Some((CompareOp::Eq, Value::String(value))) if is_email_value => Some(
            Fragment::default()
                .sql(&format!(
                    "EXISTS (SELECT 1 FROM scim_user_emails WHERE scim_user_emails.tenant_id = {t}.tenant_id \
                     AND scim_user_emails.user_id = {t}.id AND scim_user_emails.value_key = ",
                    t = table.name
                ))
                .text(value.to_lowercase())
                .sql(")"),
        ),
        _ => None,
    }
}

fn membership(table: Table<'_>, comparison: Option<(CompareOp, &Value)>) -> Result<Fragment, ScimError> {
    let (own, other) = match table.kind {
        ResourceType::Group => ("group_id", "member_id"),
        ResourceType::User => ("member_id", "group_id"),
    };
    let base = format!(
        "EXISTS (SELECT 1 FROM group_members WHERE group_members.tenant_id = {t}.tenant_id AND group_members.{own} = {t}.id",
        t = table.name
    );
    match comparison {
        None => Ok(Fragment::default().sql(&base).sql(")")),
        Some((CompareOp::Eq, Value::String(id))) => {
            Ok(Fragment::default().sql(&base).sql(&format!(" AND group_members.{other} = ")).text(id.clone()).sql(")"))
        }
        Some((CompareOp::Ne, Value::String(id))) => Ok(Fragment::default()
            .sql("(NOT ")
            .sql(&base)
            .sql(&format!(" AND group_members.{other} = "))
            .text(id.clone())
            .sql("))")),
        Some(_) => Err(ScimError::invalid_filter("members are compared with eq or ne and an id")),
    }
}

/// A `valuePath`: some element of the multi-valued attribute matches the inner filter, whose
/// attributes are the element's sub-attributes.
fn value_path(table: Table<'_>, path: &AttrPath, inner: &Filter, depth: usize) -> Result<Fragment, ScimError> {
    let location = locate(table, path)?;
    match location {
        Location::JsonArray { path: json_path, .. } => {
            let scan = exists_element(table, &json_path, |element| {
                element_filter(table, &json_path, element, inner, depth + 1)
            })?;
            // Entra's `emails[type eq "work" and value eq "x"]`: the indexed lookup narrows first.
            let pinned = pinned_value(inner).and_then(|value| {
                emails_lookup(table, &json_path, Some("value"), Some((CompareOp::Eq, &Value::String(value))))
            });
            Ok(match pinned {
                Some(lookup) => Fragment::default().sql("(").append(lookup).sql(" AND ").append(scan).sql(")"),
                None => scan,
            })
        }
        Location::Membership => {
            // `members[value eq "x"]` is `members eq "x"`.
            match inner {
                Filter::Compare { path: sub, op, value } if sub.is("value") => membership(table, Some((*op, value))),
                _ => Err(ScimError::invalid_filter("a members filter compares 'value'")),
            }
        }
        _ => Err(ScimError::invalid_filter(format!("'{path}' is not multi-valued: a value filter needs a list"))),
    }
}

/// The value of a top-level `value eq "x"` in a conjunction, if any.
fn pinned_value(filter: &Filter) -> Option<String> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value: Value::String(value) } if path.is("value") => {
            Some(value.clone())
        }
        Filter::And(a, b) => pinned_value(a).or_else(|| pinned_value(b)),
        _ => None,
    }
}

/// The inner filter of a valuePath, on one element.
fn element_filter(
    table: Table<'_>,
    array: &[String],
    element: &str,
    filter: &Filter,
    depth: usize,
) -> Result<Fragment, ScimError> {
    let backend = table.backend;
    if depth > MAX_FILTER_DEPTH {
        return Err(ScimError::invalid_filter("the filter is nested too deeply"));
    }
    Ok(match filter {
        Filter::And(a, b) => Fragment::default()
            .sql("(")
            .append(element_filter(table, array, element, a, depth + 1)?)
            .sql(" AND ")
            .append(element_filter(table, array, element, b, depth + 1)?)
            .sql(")"),
        Filter::Or(a, b) => Fragment::default()
            .sql("(")
            .append(element_filter(table, array, element, a, depth + 1)?)
            .sql(" OR ")
            .append(element_filter(table, array, element, b, depth + 1)?)
            .sql(")"),
        Filter::Not(inner) => {
            Fragment::default().sql("(NOT ").append(element_filter(table, array, element, inner, depth + 1)?).sql(")")
        }
        Filter::Present(path) | Filter::Compare { path, .. } => {
            if path.sub.is_some() || path.schema.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "'{path}' inside a value filter must be a sub-attribute name"
                )));
            }
            let sub = scim::schema::canonical_sub_attribute(&path.name);
            let comparison = match filter {
                Filter::Compare { op, value, .. } => Some((*op, value)),
                _ => None,
            };
            let (value_type, case_exact) = element_characteristics(table, array, &sub);
            coalesce(compare(
                backend,
                element_text(backend, element, Some(&sub)),
                value_type,
                case_exact,
                false,
                comparison,
            )?)
        }
        Filter::ValuePath { .. } => return Err(ScimError::invalid_filter("value filters do not nest")),
    })
}

/// `value <op> literal`, or presence, by type; never NULL.
fn compare(
    backend: Backend,
    value: Fragment,
    value_type: ValueType,
    case_exact: bool,
    already_folded: bool,
    comparison: Option<(CompareOp, &Value)>,
) -> Result<Fragment, ScimError> {
    let Some((op, literal)) = comparison else {
        let present = match value_type {
            ValueType::String => {
                Fragment::default().sql("(").append(value.clone()).sql(" IS NOT NULL AND ").append(value).sql(" <> '')")
            }
            _ => Fragment::default().sql("(").append(value).sql(" IS NOT NULL)"),
        };
        return Ok(present);
    };
    if op == CompareOp::Ne {
        let equal = compare(backend, value, value_type, case_exact, already_folded, Some((CompareOp::Eq, literal)))?;
        return Ok(Fragment::default().sql("(NOT ").append(equal).sql(")"));
    }
    let operator = |op: CompareOp| match op {
        CompareOp::Gt => " > ",
        CompareOp::Ge => " >= ",
        CompareOp::Lt => " < ",
        CompareOp::Le => " <= ",
        _ => " = ",
    };
    let condition = match (value_type, literal) {
        (_, Value::Null) => return Err(ScimError::invalid_filter("compare with null is not supported; use 'pr'")),
        (ValueType::Boolean, literal) => {
            let Some(flag) = as_bool(literal) else {
                return Err(ScimError::invalid_filter("a boolean attribute is compared with true or false"));
            };
            if op != CompareOp::Eq {
                return Err(ScimError::invalid_filter("booleans support eq and ne only"));
            }
            match backend {
                Backend::Postgres => {
                    Fragment::default().sql("(").append(value).sql("::text = ").text(flag.to_string()).sql(")")
                }
                Backend::Sqlite => {
                    Fragment::default().sql("(").append(value).sql(" = ").small_int(i32::from(flag)).sql(")")
                }
            }
        }
        (ValueType::Number, Value::Number(number)) => {
            let Some(number) = number.as_f64() else {
                return Err(ScimError::invalid_filter("the number is out of range"));
            };
            if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                return Err(ScimError::invalid_filter("co, sw and ew compare strings"));
            }
            let number_value = match backend {
                // A stored value that is not a number must not make the cast fail the query;
                // numeric (not double) so that no stored number overflows it either.
                Backend::Postgres => {
                    let number_value = Fragment::default()
                        .sql("(CASE WHEN CAST(")
                        .append(value.clone())
                        .sql(" AS text) ~ '^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$' THEN CAST(CAST(")
                        .append(value)
                        .sql(" AS text) AS numeric) END)");
                    return Ok(Fragment::default()
                        .sql("(")
                        .append(number_value)
                        .sql(operator(op))
                        .sql("CAST(")
                        .text(number.to_string())
                        .sql(" AS numeric))"));
                }
                Backend::Sqlite => Fragment::default().sql("CAST(").append(value).sql(" AS REAL)"),
            };
            Fragment::default().sql("(").append(number_value).sql(operator(op)).float(number).sql(")")
        }
        (ValueType::DateTime, Value::String(text)) => {
            let micros = chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| ScimError::invalid_filter(format!("'{text}' is not a dateTime (RFC 3339)")))?
                .timestamp_micros();
            if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                return Err(ScimError::invalid_filter("co, sw and ew compare strings"));
            }
            Fragment::default().sql("(").append(value).sql(operator(op)).int(micros).sql(")")
        }
        (ValueType::DateTimeText, Value::String(text)) => {
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| ScimError::invalid_filter(format!("'{text}' is not a dateTime (RFC 3339)")))?;
            if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                return Err(ScimError::invalid_filter("co, sw and ew compare strings"));
            }
            // Stored dateTimes compare as their RFC 3339 text (exact for one offset, e.g. UTC).
            Fragment::default().sql("(").append(value).sql(operator(op)).text(text.clone()).sql(")")
        }
        (ValueType::String, Value::String(text)) => {
            let (value, text) = if case_exact || already_folded {
                let text = if already_folded { text.to_lowercase() } else { text.clone() };
                (value, text)
            } else {
                (
                    Fragment::default().sql(&format!("{}(", fold_function(backend))).append(value).sql(")"),
                    text.to_lowercase(),
                )
            };
            match op {
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                    let escaped = escape_like(&text);
                    let pattern = match op {
                        CompareOp::Co => format!("%{escaped}%"),
                        CompareOp::Sw => format!("{escaped}%"),
                        _ => format!("%{escaped}"),
                    };
                    let like = if case_exact && backend == Backend::Sqlite { " GLOB " } else { " LIKE " };
                    if like == " GLOB " {
                        // SQLite's LIKE ignores ASCII case; GLOB does not.
                        let glob = match op {
                            CompareOp::Co => format!("*{}*", escape_glob(&text)),
                            CompareOp::Sw => format!("{}*", escape_glob(&text)),
                            _ => format!("*{}", escape_glob(&text)),
                        };
                        Fragment::default().sql("(").append(value).sql(like).text(glob).sql(")")
                    } else {
                        Fragment::default().sql("(").append(value).sql(like).text(pattern).sql(" ESCAPE '\\')")
                    }
                }
                op => Fragment::default().sql("(").append(value).sql(operator(op)).text(text).sql(")"),
            }
        }
        (ValueType::String, Value::Bool(_) | Value::Number(_)) => {
            // A string attribute compared with a non-string literal: compare its text.
            let text = literal.to_string();
            Fragment::default().sql("(").append(value).sql(operator(op)).text(text).sql(")")
        }
        (ValueType::Number, _) => {
            return Err(ScimError::invalid_filter("a number attribute is compared with a number"));
        }
        (ValueType::DateTime | ValueType::DateTimeText, _) => {
            return Err(ScimError::invalid_filter("a dateTime attribute is compared with a dateTime string"));
        }
        (ValueType::String, Value::Array(_) | Value::Object(_)) => {
            return Err(ScimError::invalid_filter("filters compare with strings, numbers, booleans"));
        }
    };
    Ok(condition)
}

fn coalesce(condition: Fragment) -> Fragment {
    Fragment::default().sql("COALESCE(").append(condition).sql(", FALSE)")
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn escape_glob(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '*' | '?' | '[' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect()
}
