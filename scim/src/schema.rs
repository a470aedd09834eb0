//! The schema registry (RFC 7643 §2, §7, §8.7.1): what every attribute of the core User, Group and
//! EnterpriseUser schemas is, plus the custom extensions a tenant declares. Clients may spell
//! attribute names and schema URNs in any case (RFC 7643 §2.1); the registry knows the canonical
//! spelling, so stored resources render the same whatever the client sent, and it knows each
//! attribute's characteristics (mutability, returned, caseExact, ...) so that the rest of the crate
//! and `/Schemas` agree on them.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use crate::error::ScimError;
use crate::filter::AttrPath;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The schema of a schema representation (RFC 7643 §7), as `/Schemas` renders it.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Which resource a body or path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    User,
    Group,
}

impl ResourceType {
    pub const ALL: [ResourceType; 2] = [ResourceType::User, ResourceType::Group];

    pub fn core_schema(self) -> &'static str {
        match self {
            ResourceType::User => USER,
            ResourceType::Group => GROUP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ResourceType::User => "User",
            ResourceType::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceType::User => "Users",
            ResourceType::Group => "Groups",
        }
    }

    /// The built-in definition of this resource's core schema.
    pub fn core_schema_def(self) -> &'static SchemaDef {
        match self {
            ResourceType::User => &USER_SCHEMA,
            ResourceType::Group => &GROUP_SCHEMA,
        }
    }

    /// The canonical spelling of a top-level attribute (common attributes included) or of a
    /// built-in schema URN, or the name as given when unknown.
    pub fn canonical_attribute(self, name: &str) -> String {
        self.core_schema_def()
            .attribute(name)
            .map(|attribute| attribute.name.as_str())
            .or_else(|| {
                BUILT_IN_SCHEMAS.iter().map(|schema| schema.id.as_str()).find(|urn| urn.eq_ignore_ascii_case(name))
            })
            // An old Entra sample writes the enterprise URN without the colon before "User".
            .or_else(|| name.eq_ignore_ascii_case(MALFORMED_ENTERPRISE_USER).then_some(ENTERPRISE_USER))
            .map_or_else(|| name.to_owned(), str::to_owned)
    }
}

/// A path as the schema names it: Entra checks a manager reference with an unqualified
/// `manager eq "…"` (RFC: `urn:…:enterprise:2.0:User:manager.value`).
pub fn qualified_path(kind: ResourceType, path: &crate::AttrPath) -> crate::AttrPath {
    let unqualified = path.schema.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(USER));
    if kind == ResourceType::User && unqualified && path.name.eq_ignore_ascii_case("manager") {
        return crate::AttrPath {
            schema: Some(ENTERPRISE_USER.to_owned()),
            name: "manager".to_owned(),
            sub: Some(path.sub.clone().unwrap_or_else(|| "value".to_owned())),
        };
    }
    path.clone()
}

/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0User`, as Entra's Example 2 sends it.
pub const MALFORMED_ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User";

/// The canonical spelling of a name found inside an attribute's value: a sub-attribute of any
/// built-in attribute, or an attribute of a built-in extension (they sit inside the extension's
/// URN object). The name as given when unknown.
pub fn canonical_sub_attribute(name: &str) -> String {
    NESTED_NAMES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |k| (*k).to_owned())
}

/// The data type of an attribute (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttributeType {
    const ALL: [AttributeType; 8] = [
        AttributeType::String,
        AttributeType::Boolean,
        AttributeType::Decimal,
        AttributeType::Integer,
        AttributeType::DateTime,
        AttributeType::Binary,
        AttributeType::Reference,
        AttributeType::Complex,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Boolean => "boolean",
            AttributeType::Decimal => "decimal",
            AttributeType::Integer => "integer",
            AttributeType::DateTime => "dateTime",
            AttributeType::Binary => "binary",
            AttributeType::Reference => "reference",
            AttributeType::Complex => "complex",
        }
    }

    /// Case-insensitive: some IdPs' schemas say `datetime` or `String`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(text))
    }
}

/// When an attribute may be written (RFC 7643 §7 `mutability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mutability {
    ReadOnly,
    #[default]
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    const ALL: [Mutability; 4] =
        [Mutability::ReadOnly, Mutability::ReadWrite, Mutability::Immutable, Mutability::WriteOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str().eq_ignore_ascii_case(text))
    }
}

/// When an attribute is returned in a response (RFC 7643 §7 `returned`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Returned {
    Always,
    Never,
    #[default]
    Default,
    Request,
}

impl Returned {
    const ALL: [Returned; 4] = [Returned::Always, Returned::Never, Returned::Default, Returned::Request];

    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(text))
    }
}

/// How unique a value must be (RFC 7643 §7 `uniqueness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Uniqueness {
    #[default]
    None,
    Server,
    Global,
}

impl Uniqueness {
    const ALL: [Uniqueness; 3] = [Uniqueness::None, Uniqueness::Server, Uniqueness::Global];

    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str().eq_ignore_ascii_case(text))
    }
}

/// One attribute (or sub-attribute) definition, with the characteristics of RFC 7643 §2.2 and §7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDef {
    pub name: String,
    pub r#type: AttributeType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: Vec<String>,
    pub reference_types: Vec<String>,
    pub description: Option<String>,
    /// Only for `complex` attributes; sub-attributes never have their own.
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, readWrite attribute returned by default, with no uniqueness:
    /// the RFC 7643 §2.2 defaults.
    pub fn new(name: impl Into<String>, r#type: AttributeType) -> Self {
        Self {
            name: name.into(),
            r#type,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::default(),
            returned: Returned::default(),
            uniqueness: Uniqueness::default(),
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            description: None,
            sub_attributes: Vec::new(),
        }
    }

    /// A sub-attribute by name, in any case.
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes.iter().find(|sub| sub.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 representation. `null`s are never emitted (Entra rejects them).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), Value::String(self.name.clone()));
        out.insert("type".into(), Value::String(self.r#type.as_str().to_owned()));
        out.insert("multiValued".into(), Value::Bool(self.multi_valued));
        if let Some(description) = &self.description {
            out.insert("description".into(), Value::String(description.clone()));
        }
        out.insert("required".into(), Value::Bool(self.required));
        out.insert("caseExact".into(), Value::Bool(self.case_exact));
        if !self.canonical_values.is_empty() {
            out.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            out.insert("referenceTypes".into(), json!(self.reference_types));
        }
        out.insert("mutability".into(), Value::String(self.mutability.as_str().to_owned()));
        out.insert("returned".into(), Value::String(self.returned.as_str().to_owned()));
        out.insert("uniqueness".into(), Value::String(self.uniqueness.as_str().to_owned()));
        if !self.sub_attributes.is_empty() {
            out.insert("subAttributes".into(), Value::Array(self.sub_attributes.iter().map(Self::to_json).collect()));
        }
        Value::Object(out)
    }

    /// Reads and validates one attribute of a §7 representation. `context` names where it sits
    /// (for error details); `is_sub` is true for a sub-attribute, which may not be complex.
    fn from_json(value: &Value, context: &str, is_sub: bool) -> Result<Self, ScimError> {
        let Value::Object(object) = value else {
            return Err(ScimError::invalid_value(format!("{context}: each attribute must be a JSON object")));
        };
        let name = match object.get("name") {
            Some(Value::String(name)) => name.clone(),
            Some(_) => return Err(ScimError::invalid_value(format!("{context}: 'name' must be a string"))),
            None => return Err(ScimError::invalid_value(format!("{context}: an attribute has no 'name'"))),
        };
        if !is_attribute_name(&name, is_sub) {
            return Err(ScimError::invalid_value(format!(
                "{context}: '{name}' is not a valid attribute name (a letter, then letters, digits, '-' or '_')"
            )));
        }
        let context = format!("{context}: attribute '{name}'");
        let r#type = match object.get("type") {
            Some(Value::String(text)) => AttributeType::parse(text).ok_or_else(|| {
                ScimError::invalid_value(format!(
                    "{context}: 'type' must be one of {}, not '{text}'",
                    AttributeType::ALL.map(AttributeType::as_str).join(", ")
                ))
            })?,
            Some(_) => return Err(ScimError::invalid_value(format!("{context}: 'type' must be a string"))),
            None => return Err(ScimError::invalid_value(format!("{context}: 'type' is required"))),
        };
        let mut attribute = AttributeDef::new(name, r#type);
        attribute.multi_valued = optional_bool(object, "multiValued", &context)?.unwrap_or(false);
        attribute.required = optional_bool(object, "required", &context)?.unwrap_or(false);
        attribute.case_exact = optional_bool(object, "caseExact", &context)?.unwrap_or(false);
        attribute.mutability =
            optional_enum(object, "mutability", &context, Mutability::parse, Mutability::ALL.map(Mutability::as_str))?
                .unwrap_or_default();
        attribute.returned =
            optional_enum(object, "returned", &context, Returned::parse, Returned::ALL.map(Returned::as_str))?
                .unwrap_or_default();
        attribute.uniqueness =
            optional_enum(object, "uniqueness", &context, Uniqueness::parse, Uniqueness::ALL.map(Uniqueness::as_str))?
                .unwrap_or_default();
        attribute.canonical_values = optional_strings(object, "canonicalValues", &context)?;
        attribute.reference_types = optional_strings(object, "referenceTypes", &context)?;
        attribute.description = optional_string(object, "description", &context)?;
        if !attribute.reference_types.is_empty() && r#type != AttributeType::Reference {
            return Err(ScimError::invalid_value(format!(
                "{context}: 'referenceTypes' only applies to attributes of type 'reference'"
            )));
        }
        let sub_attributes = match object.get("subAttributes") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(items)) => items.as_slice(),
            Some(_) => return Err(ScimError::invalid_value(format!("{context}: 'subAttributes' must be an array"))),
        };
        match (r#type, is_sub) {
            (AttributeType::Complex, true) => {
                return Err(ScimError::invalid_value(format!(
                    "{context}: a sub-attribute cannot be complex (RFC 7643 §2.3.8)"
                )));
            }
            (AttributeType::Complex, false) if sub_attributes.is_empty() => {
                return Err(ScimError::invalid_value(format!("{context}: a complex attribute needs 'subAttributes'")));
            }
            (AttributeType::Complex, false) => {
                attribute.sub_attributes = read_attributes(sub_attributes, &context, true)?;
            }
            (_, _) if !sub_attributes.is_empty() => {
                return Err(ScimError::invalid_value(format!(
                    "{context}: only a complex attribute has 'subAttributes'"
                )));
            }
            (_, _) => {}
        }
        Ok(attribute)
    }

    // Private builders for the built-in definitions below.

    fn described(name: &str, r#type: AttributeType, description: &str) -> Self {
        Self { description: Some(description.to_owned()), ..Self::new(name, r#type) }
    }

    fn multi_valued(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }

    fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }

    fn uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }

    fn canonical_values(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    fn reference_types(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    fn sub_attributes(mut self, sub_attributes: Vec<AttributeDef>) -> Self {
        self.sub_attributes = sub_attributes;
        self
    }

    /// Makes this attribute and all its sub-attributes read-only.
    fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self.sub_attributes = self.sub_attributes.into_iter().map(Self::read_only).collect();
        self
    }
}

/// A schema (RFC 7643 §7): its URN, names and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDef {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    /// A top-level attribute by name, in any case.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|attribute| attribute.name.eq_ignore_ascii_case(name))
    }

    /// Reads a schema in its RFC 7643 §7 representation, as a tenant declares a custom extension.
    /// Absent characteristics take the §2.2 defaults; anything malformed is a 400 `invalidValue`
    /// whose detail says which attribute and which characteristic.
    pub fn from_json(value: &Value) -> Result<SchemaDef, ScimError> {
        let Value::Object(object) = value else {
            return Err(ScimError::invalid_value("a schema must be a JSON object"));
        };
        let id = match object.get("id") {
            Some(Value::String(id)) => id.trim().to_owned(),
            Some(_) => return Err(ScimError::invalid_value("a schema's 'id' must be a string")),
            None => return Err(ScimError::invalid_value("a schema needs an 'id' (its URN)")),
        };
        if !is_schema_urn(&id) {
            return Err(ScimError::invalid_value(format!(
                "schema id '{id}' must be a URN such as 'urn:example:params:scim:schemas:extension:acme:2.0:User'"
            )));
        }
        let context = format!("schema '{id}'");
        match object.get("schemas") {
            None | Some(Value::Null) => {}
            Some(Value::Array(schemas))
                if schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(SCHEMA))) => {}
            Some(_) => {
                return Err(ScimError::invalid_value(format!(
                    "{context}: 'schemas' must be an array holding '{SCHEMA}'"
                )));
            }
        }
        let name = optional_string(object, "name", &context)?;
        let description = optional_string(object, "description", &context)?;
        let attributes = match object.get("attributes") {
            Some(Value::Array(items)) => read_attributes(items, &context, false)?,
            Some(_) => return Err(ScimError::invalid_value(format!("{context}: 'attributes' must be an array"))),
            None => return Err(ScimError::invalid_value(format!("{context}: 'attributes' is required"))),
        };
        Ok(SchemaDef { id, name, description, attributes })
    }

    /// The RFC 7643 §7 representation, as `/Schemas` serves it; `base_url` is the tenant's SCIM
    /// base (for `meta.location`).
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut out = Map::new();
        out.insert("schemas".into(), json!([SCHEMA]));
        out.insert("id".into(), Value::String(self.id.clone()));
        if let Some(name) = &self.name {
            out.insert("name".into(), Value::String(name.clone()));
        }
        if let Some(description) = &self.description {
            out.insert("description".into(), Value::String(description.clone()));
        }
        out.insert("attributes".into(), Value::Array(self.attributes.iter().map(AttributeDef::to_json).collect()));
        out.insert(
            "meta".into(),
            json!({
                "resourceType": "Schema",
                "location": format!("{}/Schemas/{}", base_url.trim_end_matches('/'), self.id),
            }),
        );
        Value::Object(out)
    }
}

/// Where an attribute path leads: the schema it belongs to and the definitions it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedAttribute<'a> {
    /// The canonical URN of the schema that defines the attribute.
    pub schema: &'a str,
    pub attribute: &'a AttributeDef,
    /// Set when the path names a sub-attribute (`name.givenName`, `emails.value`).
    pub sub_attribute: Option<&'a AttributeDef>,
}

impl<'a> ResolvedAttribute<'a> {
    /// The definition the path ends at: the sub-attribute when there is one.
    pub fn target(&self) -> &'a AttributeDef {
        self.sub_attribute.unwrap_or(self.attribute)
    }

    /// True when the attribute belongs to an extension rather than to the core schema.
    pub fn is_extension(&self) -> bool {
        !self.schema.eq_ignore_ascii_case(USER) && !self.schema.eq_ignore_ascii_case(GROUP)
    }
}

/// The schemas a tenant's resources follow: the built-in core User and Group schemas, the
/// EnterpriseUser extension, and the tenant's custom extensions, each attached to one resource
/// type. `Default` holds the built-ins only.
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    extensions: Vec<Extension>,
}

#[derive(Debug, Clone)]
struct Extension {
    resource: ResourceType,
    schema: Cow<'static, SchemaDef>,
}

impl Default for SchemaRegistry {
    fn default() -> Self {
        Self {
            extensions: vec![Extension {
                resource: ResourceType::User,
                schema: Cow::Borrowed(&ENTERPRISE_USER_SCHEMA),
            }],
        }
    }
}

impl SchemaRegistry {
    /// Adds a custom extension of `resource`. Its id must be a URN that differs (in any case) from
    /// every schema already known.
    pub fn register_extension(&mut self, resource: ResourceType, schema: SchemaDef) -> Result<(), ScimError> {
        if !is_schema_urn(&schema.id) {
            return Err(ScimError::invalid_value(format!("schema id '{}' is not a URN", schema.id)));
        }
        if self.schema(&schema.id).is_some() {
            return Err(ScimError::invalid_value(format!("schema '{}' is already registered", schema.id)));
        }
        self.extensions.push(Extension { resource, schema: Cow::Owned(schema) });
        Ok(())
    }

    /// A schema by URN, in any case.
    pub fn schema(&self, urn: &str) -> Option<&SchemaDef> {
        self.schemas().find(|schema| schema.id.eq_ignore_ascii_case(urn))
    }

    /// Every schema: User, Group, then the extensions in the order they were registered.
    pub fn schemas(&self) -> impl Iterator<Item = &SchemaDef> {
        let core: [&SchemaDef; 2] = ResourceType::ALL.map(ResourceType::core_schema_def);
        core.into_iter().chain(self.extensions.iter().map(|e| &*e.schema))
    }

    /// A resource's core schema and its extensions.
    pub fn resource_schemas(&self, resource: ResourceType) -> (&SchemaDef, Vec<&SchemaDef>) {
        let extensions = self.extensions.iter().filter(|e| e.resource == resource).map(|e| &*e.schema).collect();
        (resource.core_schema_def(), extensions)
    }

    /// Finds the attribute a path names, in any case. A path without a URN names a core (or
    /// common) attribute; an extension's attributes need their URN, as RFC 7644 §3.10 says.
    /// `None` when the schema is not one of `resource`'s, or the attribute or sub-attribute is
    /// unknown.
    pub fn resolve(&self, resource: ResourceType, path: &AttrPath) -> Option<ResolvedAttribute<'_>> {
        let (core, extensions) = self.resource_schemas(resource);
        let schema = match &path.schema {
            None => core,
            Some(urn) => std::iter::once(core).chain(extensions).find(|schema| schema.id.eq_ignore_ascii_case(urn))?,
        };
        let attribute = schema.attribute(&path.name)?;
        let sub_attribute = match &path.sub {
            None => None,
            Some(sub) => Some(attribute.sub_attribute(sub)?),
        };
        Some(ResolvedAttribute { schema: &schema.id, attribute, sub_attribute })
    }
}

fn read_attributes(items: &[Value], context: &str, is_sub: bool) -> Result<Vec<AttributeDef>, ScimError> {
    let mut attributes: Vec<AttributeDef> = Vec::with_capacity(items.len());
    for item in items {
        let attribute = AttributeDef::from_json(item, context, is_sub)?;
        if attributes.iter().any(|known| known.name.eq_ignore_ascii_case(&attribute.name)) {
            return Err(ScimError::invalid_value(format!(
                "{context}: attribute '{}' is defined twice (names are case-insensitive)",
                attribute.name
            )));
        }
        attributes.push(attribute);
    }
    Ok(attributes)
}

/// RFC 7643 §2.1: `ATTRNAME = ALPHA *(nameChar)`; `$ref` is the one sub-attribute outside it.
fn is_attribute_name(name: &str, is_sub: bool) -> bool {
    if is_sub && name == "$ref" {
        return true;
    }
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A URN the attribute-path syntax can carry: `urn:` then colon-separated, non-empty parts
/// without spaces, brackets or quotes.
fn is_schema_urn(id: &str) -> bool {
    id.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("urn:"))
        && id[4..].split(':').all(|part| !part.is_empty())
        && !id.chars().any(|c| c.is_whitespace() || matches!(c, '[' | ']' | '"' | '(' | ')'))
}

fn optional_bool(object: &Map<String, Value>, key: &str, context: &str) -> Result<Option<bool>, ScimError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ScimError::invalid_value(format!("{context}: '{key}' must be true or false"))),
    }
}

fn optional_string(object: &Map<String, Value>, key: &str, context: &str) -> Result<Option<String>, ScimError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!("{context}: '{key}' must be a string"))),
    }
}

fn optional_enum<T, const N: usize>(
    object: &Map<String, Value>,
    key: &str,
    context: &str,
    parse: fn(&str) -> Option<T>,
    allowed: [&str; N],
) -> Result<Option<T>, ScimError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => parse(text).map(Some).ok_or_else(|| {
            ScimError::invalid_value(format!("{context}: '{key}' must be one of {}, not '{text}'", allowed.join(", ")))
        }),
        Some(_) => Err(ScimError::invalid_value(format!("{context}: '{key}' must be a string"))),
    }
}

fn optional_strings(object: &Map<String, Value>, key: &str, context: &str) -> Result<Vec<String>, ScimError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ScimError::invalid_value(format!("{context}: '{key}' must be an array of strings")))
            })
            .collect(),
        Some(_) => Err(ScimError::invalid_value(format!("{context}: '{key}' must be an array of strings"))),
    }
}

// The built-in schemas, as RFC 7643 §8.7.1 defines them. Two deliberate departures, both from the
// RFC's own prose: Group `displayName` is required (§4.2 says REQUIRED, §8.7.1 says false), and
// `addresses` has `primary` and `members` has `display` (§4.1.2 and §4.2 list them, §8.7.1 omits
// them). The common attributes of §3.1 (`id`, `externalId`, `meta`) are listed in both core
// schemas, as §3.1 allows, so that paths such as `meta.lastModified` resolve; `id` is not
// `required` there because clients never send it.

static USER_SCHEMA: LazyLock<SchemaDef> = LazyLock::new(user_schema);
static GROUP_SCHEMA: LazyLock<SchemaDef> = LazyLock::new(group_schema);
static ENTERPRISE_USER_SCHEMA: LazyLock<SchemaDef> = LazyLock::new(enterprise_user_schema);
static BUILT_IN_SCHEMAS: LazyLock<[&'static SchemaDef; 3]> =
    LazyLock::new(|| [&*USER_SCHEMA, &*GROUP_SCHEMA, &*ENTERPRISE_USER_SCHEMA]);

/// Every name that can appear inside an attribute's value in a built-in schema: sub-attributes,
/// and the attributes of the extensions (which sit inside the extension's URN object).
static NESTED_NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = Vec::new();
    for schema in BUILT_IN_SCHEMAS.iter() {
        let is_extension = schema.id != USER && schema.id != GROUP;
        for attribute in &schema.attributes {
            if is_extension {
                names.push(&attribute.name);
            }
            names.extend(attribute.sub_attributes.iter().map(|sub| sub.name.as_str()));
        }
    }
    let mut unique: Vec<&'static str> = Vec::with_capacity(names.len());
    for name in names {
        if !unique.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            unique.push(name);
        }
    }
    unique
});

/// The built-in core User schema (RFC 7643 §4.1, §8.7.1), with the common attributes.
pub fn user_schema_def() -> &'static SchemaDef {
    &USER_SCHEMA
}

/// The built-in core Group schema (RFC 7643 §4.2, §8.7.1), with the common attributes.
pub fn group_schema_def() -> &'static SchemaDef {
    &GROUP_SCHEMA
}

/// The built-in EnterpriseUser extension (RFC 7643 §4.3, §8.7.1).
pub fn enterprise_user_schema_def() -> &'static SchemaDef {
    &ENTERPRISE_USER_SCHEMA
}

const DISPLAY_DESCRIPTION: &str = "A human-readable name, primarily used for display purposes.  READ-ONLY.";
const EMAILS_DESCRIPTION: &str = "Email addresses for the user.  The value SHOULD be canonicalized by the service provider, e.g., 'bjensen@example.com' instead of 'bjensen@EXAMPLE.COM'. Canonical type values of 'work', 'home', and 'other'.";
const PRIMARY_DESCRIPTION: &str = "A Boolean value indicating the 'primary' or preferred attribute value for this attribute.  The primary attribute value 'true' MUST appear no more than once.";

fn id_attribute() -> AttributeDef {
    AttributeDef::described(
        "id",
        AttributeType::String,
        "A unique identifier for a SCIM resource as defined by the service provider.  READ-ONLY.",
    )
    .case_exact()
    .mutability(Mutability::ReadOnly)
    .returned(Returned::Always)
    .uniqueness(Uniqueness::Server)
}

fn external_id_attribute() -> AttributeDef {
    AttributeDef::described(
        "externalId",
        AttributeType::String,
        "A String that is an identifier for the resource as defined by the provisioning client.",
    )
    .case_exact()
}

fn meta_attribute() -> AttributeDef {
    AttributeDef::described("meta", AttributeType::Complex, "A complex attribute containing resource metadata.")
        .sub_attributes(vec![
            AttributeDef::described(
                "resourceType",
                AttributeType::String,
                "The name of the resource type of the resource.",
            )
            .case_exact(),
            AttributeDef::described(
                "created",
                AttributeType::DateTime,
                "The 'DateTime' that the resource was added to the service provider.",
            ),
            AttributeDef::described(
                "lastModified",
                AttributeType::DateTime,
                "The most recent DateTime that the details of this resource were updated at the service provider.",
            ),
            AttributeDef::described("location", AttributeType::Reference, "The URI of the resource being returned.")
                .case_exact()
                .reference_types(&["uri"]),
            AttributeDef::described("version", AttributeType::String, "The version of the resource being returned.")
                .case_exact(),
        ])
        .read_only()
}

fn string(name: &str, description: &str) -> AttributeDef {
    AttributeDef::described(name, AttributeType::String, description)
}

/// A multi-valued complex attribute with the usual `value`, `display`, `type` and `primary`.
fn plural(
    name: &str,
    description: &str,
    value: AttributeDef,
    kind: (&str, &[&str]),
    primary_description: &str,
) -> AttributeDef {
    let (type_description, types) = kind;
    AttributeDef::described(name, AttributeType::Complex, description).multi_valued().sub_attributes(vec![
        value,
        string("display", DISPLAY_DESCRIPTION),
        string("type", type_description).canonical_values(types),
        primary(primary_description),
    ])
}

fn primary(description: &str) -> AttributeDef {
    AttributeDef::described("primary", AttributeType::Boolean, description)
}

fn user_schema() -> SchemaDef {
    let work_home_other = ["work", "home", "other"];
    SchemaDef {
        id: USER.to_owned(),
        name: Some("User".to_owned()),
        description: Some("User Account".to_owned()),
        attributes: vec![
            id_attribute(),
            external_id_attribute(),
            string(
                "userName",
                "Unique identifier for the User, typically used by the user to directly authenticate to the service provider. Each User MUST include a non-empty userName value.  This identifier MUST be unique across the service provider's entire set of Users. REQUIRED.",
            )
            .required()
            .uniqueness(Uniqueness::Server),
            AttributeDef::described(
                "name",
                AttributeType::Complex,
                "The components of the user's real name. Providers MAY return just the full name as a single string in the formatted sub-attribute, or they MAY return just the individual component attributes using the other sub-attributes, or they MAY return both.  If both variants are returned, they SHOULD be describing the same name, with the formatted name indicating how the component attributes should be combined.",
            )
            .sub_attributes(vec![
                string(
                    "formatted",
                    "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display (e.g., 'Ms. Barbara J Jensen, III').",
                ),
                string(
                    "familyName",
                    "The family name of the User, or last name in most Western languages (e.g., 'Jensen' given the full name 'Ms. Barbara J Jensen, III').",
                ),
                string(
                    "givenName",
                    "The given name of the User, or first name in most Western languages (e.g., 'Barbara' given the full name 'Ms. Barbara J Jensen, III').",
                ),
                string(
                    "middleName",
                    "The middle name(s) of the User (e.g., 'Jane' given the full name 'Ms. Barbara J Jensen, III').",
                ),
                string(
                    "honorificPrefix",
                    "The honorific prefix(es) of the User, or title in most Western languages (e.g., 'Ms.' given the full name 'Ms. Barbara J Jensen, III').",
                ),
                string(
                    "honorificSuffix",
                    "The honorific suffix(es) of the User, or suffix in most Western languages (e.g., 'III' given the full name 'Ms. Barbara J Jensen, III').",
                ),
            ]),
            string(
                "displayName",
                "The name of the User, suitable for display to end-users.  The name SHOULD be the full name of the User being described, if known.",
            ),
            string(
                "nickName",
                "The casual way to address the user in real life, e.g., 'Bob' or 'Bobby' instead of 'Robert'.  This attribute SHOULD NOT be used to represent a User's username (e.g., 'bjensen' or 'mpepperidge').",
            ),
            AttributeDef::described(
                "profileUrl",
                AttributeType::Reference,
                "A fully qualified URL pointing to a page representing the User's online profile.",
            )
            .reference_types(&["external"]),
            string("title", "The user's title, such as \"Vice President.\""),
            string(
                "userType",
                "Used to identify the relationship between the organization and the user.  Typical values used might be 'Contractor', 'Employee', 'Intern', 'Temp', 'External', and 'Unknown', but any value may be used.",
            ),
            string(
                "preferredLanguage",
                "Indicates the User's preferred written or spoken language.  Generally used for selecting a localized user interface; e.g., 'en_US' specifies the language English and country US.",
            ),
            string(
                "locale",
                "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations.",
            ),
            string(
                "timezone",
                "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'.",
            ),
            AttributeDef::described("active", AttributeType::Boolean, "A Boolean value indicating the User's administrative status."),
            string(
                "password",
                "The User's cleartext password.  This attribute is intended to be used as a means to specify an initial password when creating a new User or to reset an existing User's password.",
            )
            .mutability(Mutability::WriteOnly)
            .returned(Returned::Never),
            plural(
                "emails",
                EMAILS_DESCRIPTION,
                string("value", EMAILS_DESCRIPTION),
                ("A label indicating the attribute's function, e.g., 'work' or 'home'.", &work_home_other),
                "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred mailing address or primary email address.  The primary attribute value 'true' MUST appear no more than once.",
            ),
            plural(
                "phoneNumbers",
                "Phone numbers for the User.  The value SHOULD be canonicalized by the service provider according to the format specified in RFC 3966, e.g., 'tel:+1-201-555-0123'. Canonical type values of 'work', 'home', 'mobile', 'fax', 'pager', and 'other'.",
                string("value", "Phone number of the User."),
                (
                    "A label indicating the attribute's function, e.g., 'work', 'home', 'mobile'.",
                    &["work", "home", "mobile", "fax", "pager", "other"],
                ),
                "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred phone number or primary phone number.  The primary attribute value 'true' MUST appear no more than once.",
            ),
            plural(
                "ims",
                "Instant messaging addresses for the User.",
                string("value", "Instant messaging address for the User."),
                (
                    "A label indicating the attribute's function, e.g., 'aim', 'gtalk', 'xmpp'.",
                    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
                ),
                "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred messenger or primary messenger.  The primary attribute value 'true' MUST appear no more than once.",
            ),
            plural(
                "photos",
                "URLs of photos of the User.",
                AttributeDef::described("value", AttributeType::Reference, "URL of a photo of the User.").reference_types(&["external"]),
                ("A label indicating the attribute's function, i.e., 'photo' or 'thumbnail'.", &["photo", "thumbnail"]),
                "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred photo or thumbnail.  The primary attribute value 'true' MUST appear no more than once.",
            ),
            AttributeDef::described(
                "addresses",
                AttributeType::Complex,
                "A physical mailing address for this User. Canonical type values of 'work', 'home', and 'other'.  This attribute is a complex type with the following sub-attributes.",
            )
            .multi_valued()
            .sub_attributes(vec![
                string(
                    "formatted",
                    "The full mailing address, formatted for display or use with a mailing label.  This attribute MAY contain newlines.",
                ),
                string(
                    "streetAddress",
                    "The full street address component, which may include house number, street name, P.O. box, and multi-line extended street address information.  This attribute MAY contain newlines.",
                ),
                string("locality", "The city or locality component."),
                string("region", "The state or region component."),
                string("postalCode", "The zip code or postal code component."),
                string("country", "The country name component."),
                string("type", "A label indicating the attribute's function, e.g., 'work' or 'home'.")
                    .canonical_values(&work_home_other),
                primary(
                    "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred mailing address.  The primary attribute value 'true' MUST appear no more than once.",
                ),
            ]),
            AttributeDef::described(
                "groups",
                AttributeType::Complex,
                "A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.",
            )
            .multi_valued()
            .sub_attributes(vec![
                string("value", "The identifier of the User's group."),
                AttributeDef::described(
                    "$ref",
                    AttributeType::Reference,
                    "The URI of the corresponding 'Group' resource to which the user belongs.",
                )
                .reference_types(&["User", "Group"]),
                string("display", DISPLAY_DESCRIPTION),
                string("type", "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.")
                    .canonical_values(&["direct", "indirect"]),
            ])
            .read_only(),
            plural(
                "entitlements",
                "A list of entitlements for the User that represent a thing the User has.",
                string("value", "The value of an entitlement."),
                ("A label indicating the attribute's function.", &[]),
                PRIMARY_DESCRIPTION,
            ),
            plural(
                "roles",
                "A list of roles for the User that collectively represent who the User is, e.g., 'Student', 'Faculty'.",
                string("value", "The value of a role."),
                ("A label indicating the attribute's function.", &[]),
                PRIMARY_DESCRIPTION,
            ),
            plural(
                "x509Certificates",
                "A list of certificates issued to the User.",
                AttributeDef::described("value", AttributeType::Binary, "The value of an X.509 certificate."),
                ("A label indicating the attribute's function.", &[]),
                PRIMARY_DESCRIPTION,
            ),
            meta_attribute(),
        ],
    }
}

fn group_schema() -> SchemaDef {
    SchemaDef {
        id: GROUP.to_owned(),
        name: Some("Group".to_owned()),
        description: Some("Group".to_owned()),
        attributes: vec![
            id_attribute(),
            external_id_attribute(),
            string("displayName", "A human-readable name for the Group. REQUIRED.").required(),
            AttributeDef::described("members", AttributeType::Complex, "A list of members of the Group.")
                .multi_valued()
                .sub_attributes(vec![
                    string("value", "Identifier of the member of this Group.").mutability(Mutability::Immutable),
                    AttributeDef::described(
                        "$ref",
                        AttributeType::Reference,
                        "The URI corresponding to a SCIM resource that is a member of this Group.",
                    )
                    .reference_types(&["User", "Group"])
                    .mutability(Mutability::Immutable),
                    // Accepted (Okta sends it) but not stored: read-only, so clients do not expect it back.
                    string("display", "A human-readable name for the member, primarily used for display purposes.")
                        .mutability(Mutability::ReadOnly),
                    string("type", "A label indicating the type of resource, e.g., 'User' or 'Group'.")
                        .canonical_values(&["User", "Group"])
                        .mutability(Mutability::Immutable),
                ]),
            meta_attribute(),
        ],
    }
}

fn enterprise_user_schema() -> SchemaDef {
    SchemaDef {
        id: ENTERPRISE_USER.to_owned(),
        name: Some("EnterpriseUser".to_owned()),
        description: Some("Enterprise User".to_owned()),
        attributes: vec![
            string(
                "employeeNumber",
                "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.",
            ),
            string("costCenter", "Identifies the name of a cost center."),
            string("organization", "Identifies the name of an organization."),
            string("division", "Identifies the name of a division."),
            string("department", "Identifies the name of a department."),
            AttributeDef::described(
                "manager",
                AttributeType::Complex,
                "The User's manager. A complex type that optionally allows service providers to represent organizational hierarchy by referencing the 'id' attribute of another User.",
            )
            .sub_attributes(vec![
                string("value", "The id of the SCIM resource representing the User's manager.  REQUIRED."),
                AttributeDef::described(
                    "$ref",
                    AttributeType::Reference,
                    "The URI of the SCIM resource representing the User's manager.  REQUIRED.",
                )
                .reference_types(&["User"]),
                string("displayName", "The displayName of the User's manager. OPTIONAL and READ-ONLY.")
                    .mutability(Mutability::ReadOnly),
            ]),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every attribute of RFC 7643 §4.1, with its sub-attributes.
    const USER_PATHS: &[(&str, &[&str])] = &[
        ("userName", &[]),
        ("name", &["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"]),
        ("displayName", &[]),
        ("nickName", &[]),
        ("profileUrl", &[]),
        ("title", &[]),
        ("userType", &[]),
        ("preferredLanguage", &[]),
        ("locale", &[]),
        ("timezone", &[]),
        ("active", &[]),
        ("password", &[]),
        ("emails", &["value", "display", "type", "primary"]),
        ("phoneNumbers", &["value", "display", "type", "primary"]),
        ("ims", &["value", "display", "type", "primary"]),
        ("photos", &["value", "display", "type", "primary"]),
        (
            "addresses",
            &["formatted", "streetAddress", "locality", "region", "postalCode", "country", "type", "primary"],
        ),
        ("groups", &["value", "$ref", "display", "type"]),
        ("entitlements", &["value", "display", "type", "primary"]),
        ("roles", &["value", "display", "type", "primary"]),
        ("x509Certificates", &["value", "display", "type", "primary"]),
        ("id", &[]),
        ("externalId", &[]),
        ("meta", &["resourceType", "created", "lastModified", "location", "version"]),
    ];

    fn path(text: &str) -> AttrPath {
        AttrPath::parse(text).unwrap()
    }

    fn resolve_user(text: &str) -> ResolvedAttribute<'static> {
        static REGISTRY: LazyLock<SchemaRegistry> = LazyLock::new(SchemaRegistry::default);
        REGISTRY.resolve(ResourceType::User, &path(text)).unwrap_or_else(|| panic!("'{text}' does not resolve"))
    }

    #[test]
    fn every_user_attribute_resolves_in_any_case_and_qualified() {
        for (name, subs) in USER_PATHS {
            let spellings = [name.to_string(), name.to_uppercase(), name.to_lowercase()];
            for spelling in spellings {
                for text in
                    [spelling.clone(), format!("{USER}:{spelling}"), format!("{}:{spelling}", USER.to_uppercase())]
                {
                    let resolved = resolve_user(&text);
                    assert_eq!(resolved.schema, USER);
                    assert_eq!(resolved.attribute.name, *name);
                    assert!(resolved.sub_attribute.is_none());
                }
            }
            for sub in *subs {
                for text in [
                    format!("{name}.{sub}"),
                    format!("{}.{}", name.to_uppercase(), sub.to_uppercase()),
                    format!("{USER}:{}.{}", name.to_lowercase(), sub.to_lowercase()),
                ] {
                    let resolved = resolve_user(&text);
                    assert_eq!(resolved.attribute.name, *name);
                    assert_eq!(resolved.sub_attribute.map(|s| s.name.as_str()), Some(*sub), "{text}");
                }
            }
        }
    }

    #[test]
    fn enterprise_and_group_paths_resolve() {
        let registry = SchemaRegistry::default();
        let manager = registry.resolve(ResourceType::User, &path(&format!("{ENTERPRISE_USER}:manager.value"))).unwrap();
        assert_eq!(manager.schema, ENTERPRISE_USER);
        assert!(manager.is_extension());
        assert_eq!(manager.target().name, "value");
        let number = registry
            .resolve(
                ResourceType::User,
                &path("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER"),
            )
            .unwrap();
        assert_eq!(number.attribute.name, "employeeNumber");
        assert_eq!(number.schema, ENTERPRISE_USER);
        // An extension's attributes need their URN, and belong to their own resource type only.
        assert!(registry.resolve(ResourceType::User, &path("employeeNumber")).is_none());
        assert!(registry.resolve(ResourceType::Group, &path(&format!("{ENTERPRISE_USER}:manager"))).is_none());
        assert!(registry.resolve(ResourceType::Group, &path(&format!("{USER}:userName"))).is_none());
        assert!(registry.resolve(ResourceType::User, &path("nickName.value")).is_none());
        assert!(registry.resolve(ResourceType::User, &path("emails.nope")).is_none());

        let members = registry.resolve(ResourceType::Group, &path("MEMBERS.$REF")).unwrap();
        assert_eq!(members.schema, GROUP);
        assert_eq!(members.target().name, "$ref");
        let modified = registry.resolve(ResourceType::Group, &path(&format!("{GROUP}:meta.lastmodified"))).unwrap();
        assert_eq!(modified.target().r#type, AttributeType::DateTime);
        assert_eq!(modified.target().mutability, Mutability::ReadOnly);
    }

    #[test]
    fn characteristics_match_rfc_7643() {
        let user_name = resolve_user("userName").attribute;
        assert_eq!(
            (user_name.r#type, user_name.required, user_name.case_exact, user_name.uniqueness),
            (AttributeType::String, true, false, Uniqueness::Server)
        );
        assert_eq!((user_name.mutability, user_name.returned), (Mutability::ReadWrite, Returned::Default));

        let password = resolve_user("password").attribute;
        assert_eq!((password.mutability, password.returned), (Mutability::WriteOnly, Returned::Never));

        for kind in ResourceType::ALL {
            let core = kind.core_schema_def();
            let id = core.attribute("id").unwrap();
            assert_eq!(
                (id.case_exact, id.mutability, id.returned, id.uniqueness),
                (true, Mutability::ReadOnly, Returned::Always, Uniqueness::Server)
            );
            let external_id = core.attribute("externalId").unwrap();
            assert_eq!((external_id.case_exact, external_id.mutability), (true, Mutability::ReadWrite));
            let meta = core.attribute("meta").unwrap();
            assert_eq!((meta.r#type, meta.mutability), (AttributeType::Complex, Mutability::ReadOnly));
            assert!(meta.sub_attributes.iter().all(|sub| sub.mutability == Mutability::ReadOnly));
        }

        let email = resolve_user("emails.value");
        assert!(email.attribute.multi_valued);
        let email = email.target();
        assert_eq!((email.r#type, email.case_exact, email.multi_valued), (AttributeType::String, false, false));
        assert_eq!(resolve_user("emails.type").target().canonical_values, ["work", "home", "other"]);

        let groups = resolve_user("groups").attribute;
        assert!(groups.multi_valued);
        assert_eq!(groups.mutability, Mutability::ReadOnly);
        assert!(groups.sub_attributes.iter().all(|sub| sub.mutability == Mutability::ReadOnly));
        assert_eq!(resolve_user("groups.$ref").target().reference_types, ["User", "Group"]);
        assert_eq!(resolve_user("x509Certificates.value").target().r#type, AttributeType::Binary);
        assert_eq!(resolve_user("profileUrl").target().r#type, AttributeType::Reference);

        let group = group_schema_def();
        let members = group.attribute("members").unwrap();
        assert!(members.multi_valued);
        let value = members.sub_attribute("value").unwrap();
        assert_eq!((value.mutability, value.r#type), (Mutability::Immutable, AttributeType::String));
        assert_eq!(members.sub_attribute("type").unwrap().canonical_values, ["User", "Group"]);
        assert!(group.attribute("displayName").unwrap().required);

        let manager = enterprise_user_schema_def().attribute("manager").unwrap();
        assert!(!manager.multi_valued);
        assert_eq!(manager.sub_attribute("displayName").unwrap().mutability, Mutability::ReadOnly);
        assert_eq!(manager.sub_attribute("$ref").unwrap().reference_types, ["User"]);
    }

    #[test]
    fn built_in_schemas_round_trip_through_json() {
        for schema in SchemaRegistry::default().schemas() {
            let json = schema.to_json("https://scim.example.com/v2/");
            assert_eq!(json["schemas"], json!([SCHEMA]));
            assert_eq!(json["meta"]["resourceType"], "Schema");
            assert_eq!(json["meta"]["location"], format!("https://scim.example.com/v2/Schemas/{}", schema.id));
            assert_eq!(&SchemaDef::from_json(&json).unwrap(), schema);
        }
    }

    #[test]
    fn schema_json_spells_characteristics_as_the_rfc() {
        let json = user_schema_def().to_json("https://x");
        let emails = json["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "emails").unwrap();
        for key in [
            "name",
            "type",
            "multiValued",
            "description",
            "required",
            "caseExact",
            "mutability",
            "returned",
            "uniqueness",
        ] {
            assert!(emails.get(key).is_some(), "emails has no '{key}'");
        }
        assert_eq!(emails["type"], "complex");
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["subAttributes"][2]["canonicalValues"], json!(["work", "home", "other"]));
        let password = json["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "password").unwrap();
        assert_eq!(
            (password["mutability"].as_str(), password["returned"].as_str()),
            (Some("writeOnly"), Some("never"))
        );
        let profile = json["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "profileUrl").unwrap();
        assert_eq!(profile["referenceTypes"], json!(["external"]));
        assert!(!json.to_string().contains("null"));
    }

    fn custom() -> Value {
        json!({
            "schemas": [SCHEMA],
            "id": "urn:example:params:scim:schemas:extension:acme:2.0:User",
            "name": "AcmeUser",
            "attributes": [
                {"name": "badge", "type": "string", "caseExact": true, "uniqueness": "server"},
                {"name": "hired", "type": "datetime"},
                {"name": "desk", "type": "complex", "subAttributes": [
                    {"name": "building", "type": "string"},
                    {"name": "floor", "type": "integer"}
                ]}
            ]
        })
    }

    #[test]
    fn custom_schema_is_read_with_defaults() {
        let schema = SchemaDef::from_json(&custom()).unwrap();
        assert_eq!(schema.name.as_deref(), Some("AcmeUser"));
        assert_eq!(schema.description, None);
        let badge = schema.attribute("BADGE").unwrap();
        assert_eq!(
            (badge.case_exact, badge.uniqueness, badge.mutability),
            (true, Uniqueness::Server, Mutability::ReadWrite)
        );
        assert_eq!(schema.attribute("hired").unwrap().r#type, AttributeType::DateTime);
        assert_eq!(SchemaDef::from_json(&schema.to_json("https://x")).unwrap(), schema);
    }

    #[test]
    fn malformed_custom_schemas_are_invalid_values() {
        /// Spoils an otherwise valid schema.
        type Breakage = fn(&mut Value);
        let cases: &[(&str, Breakage)] = &[
            ("not an object", |s| *s = json!([1])),
            ("no id", |s| {
                s.as_object_mut().unwrap().remove("id");
            }),
            ("id not a URN", |s| s["id"] = json!("acme-user")),
            ("id with an empty part", |s| s["id"] = json!("urn:acme::User")),
            ("wrong schemas", |s| s["schemas"] = json!(["urn:x"])),
            ("no attributes", |s| {
                s.as_object_mut().unwrap().remove("attributes");
            }),
            ("attributes not an array", |s| s["attributes"] = json!({})),
            ("attribute not an object", |s| s["attributes"][0] = json!("badge")),
            ("no name", |s| {
                s["attributes"][0].as_object_mut().unwrap().remove("name");
            }),
            ("bad name", |s| s["attributes"][0]["name"] = json!("1badge")),
            ("no type", |s| {
                s["attributes"][0].as_object_mut().unwrap().remove("type");
            }),
            ("unknown type", |s| s["attributes"][0]["type"] = json!("text")),
            ("non-boolean multiValued", |s| s["attributes"][0]["multiValued"] = json!("yes")),
            ("unknown mutability", |s| s["attributes"][0]["mutability"] = json!("sometimes")),
            ("unknown returned", |s| s["attributes"][0]["returned"] = json!("maybe")),
            ("unknown uniqueness", |s| s["attributes"][0]["uniqueness"] = json!("tenant")),
            ("non-string canonical value", |s| s["attributes"][0]["canonicalValues"] = json!([1])),
            ("referenceTypes on a string", |s| s["attributes"][0]["referenceTypes"] = json!(["User"])),
            ("duplicate name", |s| s["attributes"][1]["name"] = json!("BADGE")),
            ("complex without sub-attributes", |s| s["attributes"][2]["subAttributes"] = json!([])),
            ("sub-attributes on a string", |s| {
                s["attributes"][0]["subAttributes"] = json!([{"name": "x", "type": "string"}])
            }),
            ("complex sub-attribute", |s| {
                s["attributes"][2]["subAttributes"][0] =
                    json!({"name": "wing", "type": "complex", "subAttributes": [{"name": "x", "type": "string"}]})
            }),
            ("bad sub-attribute type", |s| s["attributes"][2]["subAttributes"][1]["type"] = json!("float")),
        ];
        for (case, break_it) in cases {
            let mut schema = custom();
            break_it(&mut schema);
            let err = SchemaDef::from_json(&schema).expect_err(case);
            assert_eq!((err.status, err.scim_type), (400, Some(crate::ScimType::InvalidValue)), "{case}");
            assert!(!err.detail.is_empty(), "{case}");
        }
        let mut schema = custom();
        schema["attributes"][2]["subAttributes"][1]["type"] = json!("float");
        let detail = SchemaDef::from_json(&schema).unwrap_err().detail;
        assert!(detail.contains("'desk'") && detail.contains("'floor'") && detail.contains("'float'"), "{detail}");
    }

    #[test]
    fn custom_extensions_register_and_resolve() {
        let mut registry = SchemaRegistry::default();
        let schema = SchemaDef::from_json(&custom()).unwrap();
        registry.register_extension(ResourceType::User, schema.clone()).unwrap();
        let err = registry.register_extension(ResourceType::Group, schema).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidValue));
        let mut core = user_schema_def().clone();
        core.id = core.id.to_lowercase();
        assert!(registry.register_extension(ResourceType::User, core).is_err());
        let unnamed = SchemaDef { id: "acme".to_owned(), name: None, description: None, attributes: Vec::new() };
        assert!(registry.register_extension(ResourceType::User, unnamed).is_err());

        let (core, extensions) = registry.resource_schemas(ResourceType::User);
        assert_eq!(core.id, USER);
        let ids: Vec<&str> = extensions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, [ENTERPRISE_USER, "urn:example:params:scim:schemas:extension:acme:2.0:User"]);
        assert!(registry.resource_schemas(ResourceType::Group).1.is_empty());
        assert_eq!(registry.schemas().count(), 4);
        assert!(registry.schema("URN:EXAMPLE:PARAMS:SCIM:SCHEMAS:EXTENSION:ACME:2.0:USER").is_some());
        assert!(registry.schema(&USER.to_lowercase()).is_some());
        assert!(registry.schema("urn:nope").is_none());

        let floor = registry
            .resolve(ResourceType::User, &path("urn:example:params:scim:schemas:extension:acme:2.0:User:Desk.Floor"))
            .unwrap();
        assert_eq!(floor.schema, "urn:example:params:scim:schemas:extension:acme:2.0:User");
        assert_eq!(floor.target().r#type, AttributeType::Integer);
        assert!(
            registry
                .resolve(ResourceType::Group, &path("urn:example:params:scim:schemas:extension:acme:2.0:User:badge"))
                .is_none()
        );
    }

    #[test]
    fn names_are_canonicalized() {
        assert_eq!(ResourceType::User.canonical_attribute("UserName"), "userName");
        assert_eq!(ResourceType::User.canonical_attribute("EXTERNALID"), "externalId");
        assert_eq!(ResourceType::User.canonical_attribute("x509certificates"), "x509Certificates");
        assert_eq!(ResourceType::User.canonical_attribute("ID"), "id");
        assert_eq!(ResourceType::User.canonical_attribute(&ENTERPRISE_USER.to_uppercase()), ENTERPRISE_USER);
        assert_eq!(ResourceType::Group.canonical_attribute("Members"), "members");
        assert_eq!(ResourceType::Group.canonical_attribute("userName"), "userName");
        assert_eq!(ResourceType::User.canonical_attribute("customThing"), "customThing");
        assert_eq!(canonical_sub_attribute("Value"), "value");
        assert_eq!(canonical_sub_attribute("GIVENNAME"), "givenName");
        assert_eq!(canonical_sub_attribute("$Ref"), "$ref");
        assert_eq!(canonical_sub_attribute("employeenumber"), "employeeNumber");
        assert_eq!(canonical_sub_attribute("Manager"), "manager");
        assert_eq!(canonical_sub_attribute("postalcode"), "postalCode");
        assert_eq!(canonical_sub_attribute("unknownThing"), "unknownThing");
    }

    #[test]
    fn characteristic_values_parse_in_any_case() {
        assert_eq!(AttributeType::parse("DATETIME"), Some(AttributeType::DateTime));
        assert_eq!(Mutability::parse("writeonly"), Some(Mutability::WriteOnly));
        assert_eq!(Returned::parse("Request"), Some(Returned::Request));
        assert_eq!(Uniqueness::parse("GLOBAL"), Some(Uniqueness::Global));
        assert_eq!(AttributeType::parse("float"), None);
    }
}
