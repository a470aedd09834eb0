//! Schema URNs and the canonical spelling of core attribute names. Clients may spell attribute
//! names in any case (RFC 7643 §2.1); stored resources use the canonical spelling so that they
//! render the same whatever the client sent.

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

const USER_ATTRIBUTES: &[&str] = &[
    "userName",
    "name",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "password",
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509Certificates",
    "externalId",
];

const GROUP_ATTRIBUTES: &[&str] = &["displayName", "members", "externalId"];

const SUB_ATTRIBUTES: &[&str] = &[
    "formatted",
    "familyName",
    "givenName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
    "value",
    "display",
    "type",
    "primary",
    "streetAddress",
    "locality",
    "region",
    "postalCode",
    "country",
    "$ref",
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager",
];

/// Which resource a body or path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    User,
    Group,
}

impl ResourceType {
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

    /// The canonical spelling of a top-level attribute, or the name as given when unknown.
    pub fn canonical_attribute(self, name: &str) -> String {
        let known = match self {
            ResourceType::User => USER_ATTRIBUTES,
            ResourceType::Group => GROUP_ATTRIBUTES,
        };
        canonical(known, name)
            .or_else(|| {
                [USER, GROUP, ENTERPRISE_USER].into_iter().find(|urn| urn.eq_ignore_ascii_case(name)).map(str::to_owned)
            })
            .unwrap_or_else(|| name.to_owned())
    }
}

/// The canonical spelling of a sub-attribute, or the name as given when unknown.
pub fn canonical_sub_attribute(name: &str) -> String {
    canonical(SUB_ATTRIBUTES, name).unwrap_or_else(|| name.to_owned())
}

fn canonical(known: &[&str], name: &str) -> Option<String> {
    known.iter().find(|k| k.eq_ignore_ascii_case(name)).map(|k| (*k).to_owned())
}
