//! SCIM filters (RFC 7644 §3.4.2.2) and attribute paths: text → AST.
//!
//! Precedence follows the RFC: `or` binds loosest, then `and`, then `not` and grouping. Besides
//! the RFC grammar this accepts Entra's `emails[type eq "work"].value eq "x"`, read as
//! `emails[type eq "work" and value eq "x"]`, because Entra sends it for matching.
//!
//! Filters come from clients, so the parser bounds their length and nesting: parsing recurses,
//! and so do `Drop`, `matches` and whatever walks the tree afterwards.
//! `Display` prints the canonical text, which `Filter::parse` reads back to an equal `Filter`.

use serde_json::{Number, Value};

use crate::error::ScimError;

/// `[urn:...:]attr[.sub]`. Names keep the client's spelling; compare them case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub schema: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn new(name: &str) -> Self {
        Self { schema: None, name: name.to_owned(), sub: None }
    }

    /// Parses `[urn]attr[.sub]`.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let (schema, rest) = split_urn(text);
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
            return Err(ScimError::invalid_path(format!("'{text}' is not an attribute path")));
        }
        Ok(Self { schema, name: name.to_owned(), sub: sub.map(str::to_owned) })
    }

    /// True when this path names `name` (and no sub-attribute), ignoring case and a core URN.
    pub fn is(&self, name: &str) -> bool {
        self.sub.is_none() && self.name.eq_ignore_ascii_case(name) && self.is_core()
    }

    /// True when this path names `name.sub`, ignoring case.
    pub fn is_sub(&self, name: &str, sub: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            && self.sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(sub))
            && self.is_core()
    }

    pub fn is_core(&self) -> bool {
        self.schema
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case(crate::schema::USER) || s.eq_ignore_ascii_case(crate::schema::GROUP))
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Splits `urn:...:Schema:attr.sub` into the schema URN and `attr.sub`.
fn split_urn(text: &str) -> (Option<String>, &str) {
    if text.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("urn:"))
        && let Some(idx) = text.rfind(':')
    {
        return (Some(text[..idx].to_owned()), &text[idx + 1..]);
    }
    (None, text)
}

fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The longest filter `Filter::parse` accepts, in characters.
pub const MAX_FILTER_LENGTH: usize = 4096;

/// The deepest nesting `Filter::parse` accepts: each `( )`, `not ( )` and value filter `[ ]` is
/// one level.
pub const MAX_FILTER_DEPTH: usize = 32;

/// The most conditions (comparisons and `pr`) one filter may hold. IdPs send one (`userName eq
/// "…"`, `displayName eq "…"`); a filter of hundreds of conditions on JSON attributes is work for
/// the database out of proportion to any request, and is refused before it reaches it.
pub const MAX_FILTER_TERMS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

impl std::fmt::Display for CompareOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        if text.chars().nth(MAX_FILTER_LENGTH).is_some() {
            return Err(ScimError::invalid_filter(format!("a filter may have at most {MAX_FILTER_LENGTH} characters")));
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, pos: 0, depth: 0 };
        let filter = parser.or_expr()?;
        if let Some(token) = parser.peek() {
            return Err(ScimError::invalid_filter(format!("unexpected {} in filter", token.describe())));
        }
        if filter.terms() > MAX_FILTER_TERMS {
            return Err(ScimError::invalid_filter(format!(
                "a filter may hold at most {MAX_FILTER_TERMS} conditions, this one {}",
                filter.terms()
            )));
        }
        Ok(filter)
    }

    /// How many conditions (comparisons and presence tests) the filter holds.
    pub fn terms(&self) -> usize {
        match self {
            Filter::Compare { .. } | Filter::Present(_) => 1,
            Filter::And(a, b) | Filter::Or(a, b) => a.terms() + b.terms(),
            Filter::Not(f) | Filter::ValuePath { filter: f, .. } => f.terms(),
        }
    }

    /// Evaluates the filter against one JSON object (a resource, or one value of a multi-valued
    /// attribute). Strings compare case-insensitively; "True"/"False" strings equal booleans.
    pub fn matches(&self, target: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(target) && b.matches(target),
            Filter::Or(a, b) => a.matches(target) || b.matches(target),
            Filter::Not(f) => !f.matches(target),
            Filter::Present(path) => values_at(target, path).iter().any(|v| !is_empty(v)),
            Filter::Compare { path, op, value } => values_at(target, path).iter().any(|v| compare(v, *op, value)),
            Filter::ValuePath { path, filter } => match lookup(target, &path.name) {
                Some(Value::Array(items)) => items.iter().any(|item| filter.matches(item)),
                Some(item @ Value::Object(_)) => filter.matches(item),
                _ => false,
            },
        }
    }
}

/// Canonical filter text: operators and keywords in lower case, values as JSON, parentheses
/// only where precedence needs them, value filters as `attr[filter]` (never Entra's
/// `attr[filter].sub op value`). Every filter `Filter::parse` returns prints back to itself; a
/// hand-built one does too when its values are scalars and its value-path attributes have no
/// sub-attribute.
impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            // `and` and `or` group to the left, so only a right operand of the same kind needs
            // parentheses.
            Filter::And(left, right) => {
                write_operand(f, left, matches!(**left, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, right, matches!(**right, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(left, right) => {
                write!(f, "{left} or ")?;
                write_operand(f, right, matches!(**right, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

fn write_operand(f: &mut std::fmt::Formatter<'_>, operand: &Filter, grouped: bool) -> std::fmt::Result {
    if grouped { write!(f, "({operand})") } else { write!(f, "{operand}") }
}

/// Case-insensitive key lookup in a JSON object.
pub fn lookup<'a>(target: &'a Value, name: &str) -> Option<&'a Value> {
    target.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn values_at<'a>(target: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let base = match &path.schema {
        Some(schema) if !path.is_core() => lookup(target, schema),
        _ => Some(target),
    };
    let Some(value) = base.and_then(|b| lookup(b, &path.name)) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match &path.sub {
        None => items
            .into_iter()
            .map(|item| if item.is_object() { lookup(item, "value").unwrap_or(item) } else { item })
            .collect(),
        Some(sub) => items.into_iter().filter_map(|item| lookup(item, sub)).collect(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn compare(actual: &Value, op: CompareOp, expected: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (actual, expected) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = (a.to_lowercase(), b.to_lowercase());
            return match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            };
        }
        (Value::Bool(a), b) => as_bool(b).map(|b| a.cmp(&b)),
        (Value::String(_), Value::Bool(b)) => as_bool(actual).map(|a| a.cmp(b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)),
        _ => None,
    };
    match (op, ordering) {
        (CompareOp::Eq, Some(o)) => o == Ordering::Equal,
        (CompareOp::Ne, Some(o)) => o != Ordering::Equal,
        (CompareOp::Ne, None) => true,
        (CompareOp::Gt, Some(o)) => o == Ordering::Greater,
        (CompareOp::Ge, Some(o)) => o != Ordering::Less,
        (CompareOp::Lt, Some(o)) => o == Ordering::Less,
        (CompareOp::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

/// A boolean, or a string spelling one in any case (Entra sends "True" and "False").
pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    /// `.sub` right after a `]`.
    SubAttr(String),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{w}'"),
            Token::Literal(v) => format!("value {v}"),
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::OpenBracket => "'['".into(),
            Token::CloseBracket => "']'".into(),
            Token::SubAttr(s) => format!("'.{s}'"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, ScimError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '[' => {
                tokens.push(Token::OpenBracket);
                i += 1;
            }
            ']' => {
                tokens.push(Token::CloseBracket);
                i += 1;
                if chars.get(i) == Some(&'.') {
                    let start = i + 1;
                    let mut end = start;
                    while end < chars.len() && is_word_char(chars[end]) {
                        end += 1;
                    }
                    tokens.push(Token::SubAttr(chars[start..end].iter().collect()));
                    i = end;
                }
            }
            '"' => {
                // A JSON string: find the closing quote, honouring backslash escapes.
                let start = i;
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' => i += 2,
                        '"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                if !closed {
                    return Err(ScimError::invalid_filter("unterminated string in filter"));
                }
                let raw: String = chars[start..i].iter().collect();
                let value: Value = serde_json::from_str(&raw)
                    .map_err(|_| ScimError::invalid_filter(format!("invalid string literal {raw} in filter")))?;
                if value.as_str().is_some_and(|s| s.contains('\0')) {
                    return Err(ScimError::invalid_filter("a filter value may not contain NUL"));
                }
                tokens.push(Token::Literal(value));
            }
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(word_token(word)?);
            }
            other => return Err(ScimError::invalid_filter(format!("unexpected character '{other}' in filter"))),
        }
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-' | '$' | '+')
}

/// A number, or a word. `true`, `false` and `null` stay words: they are values after an operator
/// but may be attribute names before one.
fn word_token(word: String) -> Result<Token, ScimError> {
    let first = word.chars().next().unwrap_or(' ');
    if first.is_ascii_digit() || first == '-' || first == '+' {
        return Ok(Token::Literal(Value::Number(number(&word)?)));
    }
    Ok(Token::Word(word))
}

fn number(word: &str) -> Result<Number, ScimError> {
    let invalid = || ScimError::invalid_filter(format!("'{word}' is not a number"));
    let text = word.trim_start_matches('+');
    let number: Number = serde_json::from_str(text).map_err(|_| invalid())?;
    if number.is_f64() {
        // serde_json reads decimals to within a unit in the last place; std reads them exactly,
        // so that a printed filter parses back to the same number.
        return text.parse::<f64>().ok().and_then(Number::from_f64).ok_or_else(invalid);
    }
    Ok(number)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Open `(`, `not (` and `[` around the current token.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    /// Parses one nesting level, refusing to go deeper than `MAX_FILTER_DEPTH`.
    fn nested(&mut self, parse: impl FnOnce(&mut Self) -> Result<Filter, ScimError>) -> Result<Filter, ScimError> {
        if self.depth >= MAX_FILTER_DEPTH {
            return Err(ScimError::invalid_filter(format!(
                "a filter may nest at most {MAX_FILTER_DEPTH} levels of parentheses, 'not' and value filters"
            )));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn or_expr(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and_expr()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and_expr()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.peek_keyword("not") && !self.not_is_attribute() {
            self.pos += 1;
            let Some(Token::Open) = self.next() else {
                return Err(ScimError::invalid_filter("'not' must be followed by '('"));
            };
            return self.nested(|parser| Ok(Filter::Not(Box::new(parser.group_rest()?))));
        }
        if let Some(Token::Open) = self.peek() {
            self.pos += 1;
            return self.nested(Self::group_rest);
        }
        self.attribute_expr()
    }

    /// `not` is a valid attribute name too: it is one when an operator or `[` follows it.
    fn not_is_attribute(&self) -> bool {
        match self.tokens.get(self.pos + 1) {
            Some(Token::OpenBracket) => true,
            Some(Token::Word(word)) => word.eq_ignore_ascii_case("pr") || CompareOp::parse(word).is_some(),
            _ => false,
        }
    }

    /// After '(' has been consumed: the filter and its ')'.
    fn group_rest(&mut self) -> Result<Filter, ScimError> {
        let inner = self.or_expr()?;
        match self.next() {
            Some(Token::Close) => Ok(inner),
            _ => Err(ScimError::invalid_filter("missing ')' in filter")),
        }
    }

    fn attribute_expr(&mut self) -> Result<Filter, ScimError> {
        let path = match self.next() {
            Some(Token::Word(word)) => AttrPath::parse(&word)
                .map_err(|_| ScimError::invalid_filter(format!("'{word}' is not an attribute path")))?,
            Some(other) => {
                return Err(ScimError::invalid_filter(format!(
                    "expected an attribute name, found {}",
                    other.describe()
                )));
            }
            None => return Err(ScimError::invalid_filter("filter ends where an attribute was expected")),
        };
        if let Some(Token::OpenBracket) = self.peek() {
            self.pos += 1;
            if path.sub.is_some() {
                return Err(ScimError::invalid_filter("a value filter applies to an attribute, not a sub-attribute"));
            }
            let mut inner = self.nested(|parser| {
                let inner = parser.or_expr()?;
                match parser.next() {
                    Some(Token::CloseBracket) => Ok(inner),
                    _ => Err(ScimError::invalid_filter("missing ']' in filter")),
                }
            })?;
            if let Some(Token::SubAttr(sub)) = self.peek().cloned() {
                // Entra: `emails[type eq "work"].value eq "x"`.
                self.pos += 1;
                let sub_path = AttrPath::parse(&sub)
                    .map_err(|_| ScimError::invalid_filter(format!("'{sub}' is not a sub-attribute")))?;
                let condition = self.condition(sub_path)?;
                inner = Filter::And(Box::new(inner), Box::new(condition));
            }
            return Ok(Filter::ValuePath { path, filter: Box::new(inner) });
        }
        self.condition(path)
    }

    /// `pr`, or an operator and a value, after an attribute path.
    fn condition(&mut self, path: AttrPath) -> Result<Filter, ScimError> {
        let op = match self.next() {
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
            Some(Token::Word(word)) => CompareOp::parse(&word)
                .ok_or_else(|| ScimError::invalid_filter(format!("'{word}' is not a filter operator")))?,
            Some(other) => {
                return Err(ScimError::invalid_filter(format!("expected an operator, found {}", other.describe())));
            }
            None => return Err(ScimError::invalid_filter(format!("filter ends after '{path}'"))),
        };
        let value = match self.next() {
            Some(Token::Literal(value)) => value,
            Some(Token::Word(word)) if word == "true" => Value::Bool(true),
            Some(Token::Word(word)) if word == "false" => Value::Bool(false),
            Some(Token::Word(word)) if word == "null" => Value::Null,
            Some(other) => {
                return Err(ScimError::invalid_filter(format!(
                    "expected a value after the operator, found {}",
                    other.describe()
                )));
            }
            None => return Err(ScimError::invalid_filter("filter ends where a value was expected")),
        };
        Ok(Filter::Compare { path, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eq(path: &str, value: Value) -> Filter {
        Filter::Compare { path: AttrPath::parse(path).unwrap(), op: CompareOp::Eq, value }
    }

    #[test]
    fn parses_simple_equality() {
        assert_eq!(Filter::parse(r#"userName eq "bjensen""#).unwrap(), eq("userName", json!("bjensen")));
    }

    #[test]
    fn operators_and_keywords_are_case_insensitive() {
        assert_eq!(
            Filter::parse(r#"userName EQ "a" AND active Eq true"#).unwrap(),
            Filter::And(Box::new(eq("userName", json!("a"))), Box::new(eq("active", json!(true))))
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let parsed = Filter::parse(r#"a eq 1 or b eq 2 and c eq 3"#).unwrap();
        let expected = Filter::Or(
            Box::new(eq("a", json!(1))),
            Box::new(Filter::And(Box::new(eq("b", json!(2))), Box::new(eq("c", json!(3))))),
        );
        assert_eq!(parsed, expected);
    }

    #[test]
    fn parentheses_override_precedence() {
        let parsed = Filter::parse(r#"(a eq 1 or b eq 2) and c eq 3"#).unwrap();
        assert!(matches!(parsed, Filter::And(_, _)));
    }

    #[test]
    fn entra_value_path_with_trailing_comparison() {
        let parsed = Filter::parse(r#"emails[type eq "work"].value eq "a@x.com""#).unwrap();
        let Filter::ValuePath { path, filter } = parsed else { panic!("not a value path") };
        assert_eq!(path.name, "emails");
        let user = json!({"emails": [{"type": "work", "value": "A@x.com"}]});
        assert!(filter.matches(&user["emails"][0]));
    }

    #[test]
    fn urn_qualified_attribute() {
        let parsed =
            Filter::parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7""#)
                .unwrap();
        let Filter::Compare { path, .. } = parsed else { panic!() };
        assert_eq!(path.schema.as_deref(), Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        assert_eq!(path.name, "employeeNumber");
    }

    #[test]
    fn escapes_in_strings() {
        let parsed = Filter::parse(r#"displayName eq "say \"hi\"""#).unwrap();
        assert_eq!(parsed, eq("displayName", json!("say \"hi\"")));
    }

    #[test]
    fn malformed_filters_are_invalid_filter() {
        for text in [
            "",
            "userName",
            "userName eq",
            "userName xx \"a\"",
            "(userName eq \"a\"",
            "userName eq \"a",
            "userName eq \"a\" and",
            "not userName eq \"a\"",
        ] {
            let err = Filter::parse(text).unwrap_err();
            assert_eq!(err.scim_type, Some(crate::ScimType::InvalidFilter), "{text}");
        }
    }

    #[test]
    fn matches_booleans_spelled_as_strings() {
        let filter = Filter::parse(r#"roles[primary eq "True"]"#).unwrap();
        assert!(filter.matches(&json!({"roles": [{"primary": true, "value": "Admin"}]})));
        assert!(!filter.matches(&json!({"roles": [{"primary": false, "value": "Admin"}]})));
    }

    fn compare(path: &str, op: CompareOp, value: Value) -> Filter {
        Filter::Compare { path: AttrPath::parse(path).unwrap(), op, value }
    }

    fn present(path: &str) -> Filter {
        Filter::Present(AttrPath::parse(path).unwrap())
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    fn value_path(path: &str, filter: Filter) -> Filter {
        Filter::ValuePath { path: AttrPath::parse(path).unwrap(), filter: Box::new(filter) }
    }

    /// Parses `text`, checks the AST, and checks that the AST prints as `canonical` and parses back.
    fn assert_parses(text: &str, expected: Filter, canonical: &str) {
        let parsed = Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed, expected, "{text}");
        assert_eq!(parsed.to_string(), canonical, "{text}");
        assert_eq!(Filter::parse(canonical).unwrap(), expected, "{canonical}");
    }

    fn assert_invalid(text: &str) -> String {
        let err = Filter::parse(text).unwrap_err();
        assert_eq!((err.status, err.scim_type), (400, Some(crate::ScimType::InvalidFilter)), "{text}");
        err.detail
    }

    #[test]
    fn every_comparison_operator() {
        for (word, op) in [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            let text = format!(r#"userName {word} "j""#);
            assert_parses(&text, compare("userName", op, json!("j")), &text);
            let upper = format!(r#"userName {} "j""#, word.to_uppercase());
            assert_parses(&upper, compare("userName", op, json!("j")), &text);
        }
        assert_parses("title pr", present("title"), "title pr");
        assert_parses("title PR", present("title"), "title pr");
    }

    #[test]
    fn keywords_and_operators_in_any_case() {
        assert_parses(
            r#"NOT (a Pr) AnD (b pR oR c Eq 1)"#,
            and(not(present("a")), or(present("b"), compare("c", CompareOp::Eq, json!(1)))),
            "not (a pr) and (b pr or c eq 1)",
        );
        assert_parses("title Ne null", compare("title", CompareOp::Ne, Value::Null), "title ne null");
    }

    #[test]
    fn not_needs_parentheses_and_groups_its_filter() {
        assert_parses("not (a pr)", not(present("a")), "not (a pr)");
        assert_parses("not(a pr or b pr)", not(or(present("a"), present("b"))), "not (a pr or b pr)");
        assert_parses("not (not (a pr))", not(not(present("a"))), "not (not (a pr))");
        assert_parses("not (a pr) and b pr", and(not(present("a")), present("b")), "not (a pr) and b pr");
        for text in ["not a pr", "not", "not (", "not ()", "not (a pr", "a pr and not"] {
            assert_invalid(text);
        }
    }

    #[test]
    fn nested_and_redundant_parentheses() {
        assert_parses("((a pr))", present("a"), "a pr");
        assert_parses("(((a pr) and (b pr)))", and(present("a"), present("b")), "a pr and b pr");
        assert_parses(
            "((a pr or b pr) and (c pr or (d pr and e pr)))",
            and(or(present("a"), present("b")), or(present("c"), and(present("d"), present("e")))),
            "(a pr or b pr) and (c pr or d pr and e pr)",
        );
        for text in ["()", "(a pr))", "((a pr)", ")a pr(", "a pr ()"] {
            assert_invalid(text);
        }
    }

    #[test]
    fn precedence_and_associativity() {
        let (a, b, c) = (present("a"), present("b"), present("c"));
        assert_parses("a pr or b pr and c pr", or(a.clone(), and(b.clone(), c.clone())), "a pr or b pr and c pr");
        assert_parses("(a pr or b pr) and c pr", and(or(a.clone(), b.clone()), c.clone()), "(a pr or b pr) and c pr");
        assert_parses("a pr and b pr or c pr", or(and(a.clone(), b.clone()), c.clone()), "a pr and b pr or c pr");
        assert_parses("a pr and (b pr or c pr)", and(a.clone(), or(b.clone(), c.clone())), "a pr and (b pr or c pr)");
        // Both group to the left; a right-nested tree keeps its parentheses.
        assert_parses("a pr or b pr or c pr", or(or(a.clone(), b.clone()), c.clone()), "a pr or b pr or c pr");
        assert_parses("a pr or (b pr or c pr)", or(a.clone(), or(b.clone(), c.clone())), "a pr or (b pr or c pr)");
        assert_parses("a pr and b pr and c pr", and(and(a.clone(), b.clone()), c.clone()), "a pr and b pr and c pr");
        assert_parses("a pr and (b pr and c pr)", and(a, and(b, c)), "a pr and (b pr and c pr)");
    }

    #[test]
    fn value_paths() {
        let work = compare("type", CompareOp::Eq, json!("work"));
        assert_parses(r#"emails[type eq "work"]"#, value_path("emails", work.clone()), r#"emails[type eq "work"]"#);
        assert_parses(
            r#"emails[type eq "work" and value co "@example.com"]"#,
            value_path("emails", and(work.clone(), compare("value", CompareOp::Co, json!("@example.com")))),
            r#"emails[type eq "work" and value co "@example.com"]"#,
        );
        assert_parses(
            r#"emails[type eq "work" or not (primary eq true)]"#,
            value_path("emails", or(work.clone(), not(compare("primary", CompareOp::Eq, json!(true))))),
            r#"emails[type eq "work" or not (primary eq true)]"#,
        );
        assert_parses(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"] and title pr"#,
            and(value_path("urn:ietf:params:scim:schemas:core:2.0:User:emails", work.clone()), present("title")),
            r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"] and title pr"#,
        );
        // Entra's trailing comparison folds into the value filter, with parentheses when needed.
        assert_parses(
            r#"emails[type eq "work" or type eq "home"].value eq "x""#,
            value_path(
                "emails",
                and(
                    or(work, compare("type", CompareOp::Eq, json!("home"))),
                    compare("value", CompareOp::Eq, json!("x")),
                ),
            ),
            r#"emails[(type eq "work" or type eq "home") and value eq "x"]"#,
        );
        for text in
            ["emails[]", "emails[type pr", "emails type pr]", "name.givenName[type pr]", "emails[type pr].", "[a pr]"]
        {
            assert_invalid(text);
        }
    }

    #[test]
    fn attribute_paths_with_sub_attributes_and_urns() {
        assert_parses(
            r#"name.familyName co "O'Malley""#,
            compare("name.familyName", CompareOp::Co, json!("O'Malley")),
            r#"name.familyName co "O'Malley""#,
        );
        assert_parses("meta.$ref pr", present("meta.$ref"), "meta.$ref pr");
        let manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value";
        let parsed = Filter::parse(&format!(r#"{manager} eq "m""#)).unwrap();
        let Filter::Compare { path, .. } = &parsed else { panic!("{parsed:?}") };
        assert_eq!(path.schema.as_deref(), Some(crate::schema::ENTERPRISE_USER));
        assert_eq!((path.name.as_str(), path.sub.as_deref()), ("manager", Some("value")));
        assert_eq!(parsed.to_string(), format!(r#"{manager} eq "m""#));
        for text in ["a.b.c pr", "1a pr", "a..b pr", "a. pr", "_a pr", "a@b pr"] {
            assert_invalid(text);
        }
    }

    #[test]
    fn numbers() {
        for (text, value, canonical) in [
            ("0", json!(0), "0"),
            ("42", json!(42), "42"),
            ("-7", json!(-7), "-7"),
            ("1.5", json!(1.5), "1.5"),
            ("-0.25", json!(-0.25), "-0.25"),
            ("1e3", json!(1000.0), "1000.0"),
            ("2.5E-2", json!(0.025), "0.025"),
            ("-1E+2", json!(-100.0), "-100.0"),
            ("+3", json!(3), "3"),
            ("18446744073709551615", json!(u64::MAX), "18446744073709551615"),
            ("-9223372036854775808", json!(i64::MIN), "-9223372036854775808"),
        ] {
            assert_parses(&format!("a gt {text}"), compare("a", CompareOp::Gt, value), &format!("a gt {canonical}"));
        }
        for text in ["a eq 1.", "a eq .5", "a eq 01", "a eq 1e", "a eq -", "a eq 1e999", "a eq 0x10", "a eq +true"] {
            assert_invalid(text);
        }
    }

    #[test]
    fn decimals_are_read_exactly() {
        // serde_json's default reader is off by one unit in the last place for these.
        for text in ["1.0715660391465826e-75", "-1.81996730402717e-179", "-1.603964615428183e143"] {
            let expected: f64 = text.parse().unwrap();
            assert_eq!(Filter::parse(&format!("a eq {text}")).unwrap(), eq("a", json!(expected)), "{text}");
        }
    }

    #[test]
    fn true_false_null() {
        assert_parses("active eq true", eq("active", json!(true)), "active eq true");
        assert_parses("active ne false", compare("active", CompareOp::Ne, json!(false)), "active ne false");
        assert_parses("title eq null", eq("title", Value::Null), "title eq null");
        // JSON literals are lower case; `True` is neither a value nor (after an operator) a name.
        assert_invalid("active eq True");
        assert_invalid("active eq NULL");
    }

    #[test]
    fn keywords_as_attribute_names() {
        assert_parses("and eq 1", eq("and", json!(1)), "and eq 1");
        assert_parses("or pr or and pr", or(present("or"), present("and")), "or pr or and pr");
        assert_parses("pr pr and eq eq 1", and(present("pr"), eq("eq", json!(1))), "pr pr and eq eq 1");
        assert_parses("not eq \"x\"", eq("not", json!("x")), "not eq \"x\"");
        assert_parses("NOT pr", present("NOT"), "NOT pr");
        assert_parses("not[a pr]", value_path("not", present("a")), "not[a pr]");
        assert_parses("not (not pr)", not(present("not")), "not (not pr)");
        assert_parses(
            "true eq false or null pr",
            or(eq("true", json!(false)), present("null")),
            "true eq false or null pr",
        );
        assert_parses("not.not eq null", eq("not.not", Value::Null), "not.not eq null");
    }

    #[test]
    fn string_literals_are_json_strings() {
        for value in ["", "say \"hi\"", "back\\slash", "tab\tnew\nline", "\u{1}", "é ü 中文 🦀", "a]b)c(d[e", "\u{7f}"]
        {
            let filter = eq("displayName", json!(value));
            assert_eq!(Filter::parse(&filter.to_string()).unwrap(), filter, "{value:?}");
        }
        assert_parses(r#"a eq "\u00e9\/""#, eq("a", json!("é/")), r#"a eq "é/""#);
        for text in [r#"a eq "\x""#, r#"a eq "\ud800""#, "a eq \"\t\"", r#"a eq 'x'"#, r#"a eq "x\"#] {
            assert_invalid(text);
        }
    }

    #[test]
    fn rfc_7644_examples() {
        for text in [
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"title pr"#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ] {
            let parsed = Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed.to_string(), text);
        }
        let redundant = Filter::parse(r#"userType eq "Employee" and (emails.type eq "work")"#).unwrap();
        assert_eq!(redundant.to_string(), r#"userType eq "Employee" and emails.type eq "work""#);
    }

    #[test]
    fn length_limit() {
        let padding = MAX_FILTER_LENGTH - "a pr".len();
        let longest = format!("{}a pr", " ".repeat(padding));
        assert_eq!(Filter::parse(&longest).unwrap(), present("a"));
        let detail = assert_invalid(&format!(" {longest}"));
        assert!(detail.contains(&MAX_FILTER_LENGTH.to_string()), "{detail}");
        // Characters, not bytes.
        let value = "é".repeat(MAX_FILTER_LENGTH - r#"a eq """#.len());
        assert!(Filter::parse(&format!(r#"a eq "{value}""#)).is_ok());
        assert_invalid(&format!(r#"a eq "{value}é""#));
        assert_invalid(&"(".repeat(10 * 1024 * 1024));
    }

    #[test]
    fn depth_limit() {
        let nest =
            |open: &str, close: &str, levels: usize| format!("{}a pr{}", open.repeat(levels), close.repeat(levels));
        for (open, close) in [("(", ")"), ("not (", ")"), ("x[", "]")] {
            assert!(Filter::parse(&nest(open, close, MAX_FILTER_DEPTH)).is_ok(), "{open}");
            let detail = assert_invalid(&nest(open, close, MAX_FILTER_DEPTH + 1));
            assert!(detail.contains(&MAX_FILTER_DEPTH.to_string()), "{detail}");
        }
        // 30 levels, then 32 and 33.
        let mixed = "(not (x[".repeat(10) + "a pr" + &"]))".repeat(10);
        assert!(Filter::parse(&format!("(({mixed}))")).is_ok());
        assert_invalid(&format!("((({mixed})))"));
        // Sequences do not nest: a chain of `and` is bounded by its conditions, not its depth.
        let chain = vec!["a pr"; MAX_FILTER_TERMS].join(" and ");
        assert!(Filter::parse(&chain).is_ok());
    }

    #[test]
    fn conditions_are_bounded() {
        let terms = |n: usize| vec!["name.givenName eq \"x\""; n].join(" or ");
        assert_eq!(Filter::parse(&terms(MAX_FILTER_TERMS)).map(|f| f.terms()).ok(), Some(MAX_FILTER_TERMS));
        let detail = assert_invalid(&terms(MAX_FILTER_TERMS + 1));
        assert!(detail.contains(&MAX_FILTER_TERMS.to_string()), "{detail}");
        let nested = format!("emails[{}]", vec!["value pr"; MAX_FILTER_TERMS + 1].join(" and "));
        assert_invalid(&nested);
    }

    #[test]
    fn deep_nesting_within_the_length_limit_never_overflows_the_stack() {
        let text = "(".repeat(MAX_FILTER_LENGTH);
        assert_invalid(&text);
        let text = "x[".repeat(MAX_FILTER_LENGTH / 2);
        assert_invalid(&text);
        // On a small stack, to catch recursion that is bounded only by the length limit.
        let worker = std::thread::Builder::new().stack_size(1024 * 1024).spawn(|| {
            for open in ["(", "not (", "a[", "a[b pr].c eq 1 and ("] {
                let text: String = open.repeat(MAX_FILTER_LENGTH).chars().take(MAX_FILTER_LENGTH).collect();
                assert!(Filter::parse(&text).is_err());
            }
            // A long chain is parsed in full (then refused for its conditions) without overflow.
            let chain = vec!["a pr"; MAX_FILTER_LENGTH / 8].join(" or ");
            assert!(Filter::parse(&chain).unwrap_err().detail.contains("conditions"));
            let chain = vec!["a pr"; MAX_FILTER_TERMS].join(" or ");
            let filter = Filter::parse(&chain).unwrap();
            assert_eq!(Filter::parse(&filter.to_string()).unwrap(), filter);
        });
        worker.unwrap().join().unwrap();
    }

    mod generate {
        //! Random filters in the forms `Filter::parse` produces.
        use super::*;
        use proptest::prelude::*;

        fn attr_name() -> impl Strategy<Value = String> {
            prop_oneof![
                6 => "[a-zA-Z][a-zA-Z0-9_-]{0,7}",
                1 => "\\$[a-zA-Z0-9_-]{0,4}",
                2 => prop::sample::select(vec![
                    "and", "or", "not", "pr", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "true", "false",
                    "null", "AND", "Not", "True", "value", "type",
                ])
                .prop_map(str::to_owned),
            ]
        }

        fn schema() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![crate::schema::USER, crate::schema::GROUP, crate::schema::ENTERPRISE_USER])
                    .prop_map(str::to_owned),
                "(urn|URN|Urn):[a-z0-9]{1,6}(:[A-Za-z0-9._$+-]{0,6}){0,4}",
            ]
        }

        pub fn attr_path(sub: bool) -> impl Strategy<Value = AttrPath> {
            let sub = if sub { prop::option::of(attr_name()).boxed() } else { Just(None).boxed() };
            (prop::option::weighted(0.25, schema()), attr_name(), sub).prop_map(|(schema, name, sub)| AttrPath {
                schema,
                name,
                sub,
            })
        }

        fn op() -> impl Strategy<Value = CompareOp> {
            prop::sample::select(vec![
                CompareOp::Eq,
                CompareOp::Ne,
                CompareOp::Co,
                CompareOp::Sw,
                CompareOp::Ew,
                CompareOp::Gt,
                CompareOp::Ge,
                CompareOp::Lt,
                CompareOp::Le,
            ])
        }

        fn string() -> impl Strategy<Value = String> {
            // Any character but NUL, which filters refuse (no database text can hold it).
            let char = prop_oneof![
                3 => any::<char>().prop_filter("no NUL", |c| *c != '\0'),
                1 => prop::sample::select(vec!['"', '\\', '\'', ' ', '(', ')', '[', ']', '.', '\n', 'é', '🦀']),
            ];
            prop::collection::vec(char, 0..10).prop_map(String::from_iter)
        }

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                3 => string().prop_map(Value::String),
                1 => any::<i64>().prop_map(Value::from),
                1 => any::<u64>().prop_map(Value::from),
                1 => (-1000i32..1000).prop_map(Value::from),
                1 => prop::num::f64::NORMAL.prop_map(Value::from),
                1 => (prop::num::f64::SUBNORMAL | prop::num::f64::ZERO).prop_map(Value::from),
                1 => (-1000i32..1000, 0u32..4).prop_map(|(n, e)| Value::from(f64::from(n) / 10f64.powi(e as i32))),
                1 => any::<bool>().prop_map(Value::Bool),
                1 => Just(Value::Null),
            ]
        }

        pub fn filter() -> impl Strategy<Value = Filter> {
            let leaf = prop_oneof![
                3 => (attr_path(true), op(), value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
                1 => attr_path(true).prop_map(Filter::Present),
            ];
            leaf.prop_recursive(5, 24, 2, |inner| {
                prop_oneof![
                    (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                    (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                    inner.clone().prop_map(|f| Filter::Not(Box::new(f))),
                    // The parser refuses a value filter on a sub-attribute (`name.x[...]`).
                    (attr_path(false), inner).prop_map(|(path, f)| Filter::ValuePath { path, filter: Box::new(f) }),
                ]
            })
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2048))]

        #[test]
        fn printed_filters_parse_back(filter in generate::filter()) {
            let text = filter.to_string();
            proptest::prop_assert!(text.chars().count() <= MAX_FILTER_LENGTH, "{text}");
            proptest::prop_assert_eq!(Filter::parse(&text), Ok(filter), "{}", text);
        }

        #[test]
        fn parsed_filters_print_back(filter in generate::filter()) {
            // Printing is a fixed point: parse(print(f)) prints the same text again.
            let text = filter.to_string();
            let reparsed = Filter::parse(&text).map(|f| f.to_string());
            proptest::prop_assert_eq!(reparsed, Ok(text));
        }
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(text in ".{0,64}") {
            let _ = Filter::parse(&text);
        }

        #[test]
        fn tokens_never_panic_and_parsed_filters_round_trip(
            tokens in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "b.c", "x", "urn:s:a", "eq", "pr", "gt", "and", "or", "not", "(", ")", "[", "]", "].v",
                    "\"s\"", "1", "-2.5e3", "true", "null", " ",
                ]),
                0..24,
            )
        ) {
            let text = tokens.join(" ");
            if let Ok(filter) = Filter::parse(&text) {
                proptest::prop_assert_eq!(Filter::parse(&filter.to_string()), Ok(filter));
            }
        }

        #[test]
        fn equality_on_any_string_round_trips(value in "[^\\\\\"\\x00]{0,32}") {
            let text = format!("userName eq {}", serde_json::to_string(&value).unwrap());
            proptest::prop_assert_eq!(Filter::parse(&text).unwrap(), eq("userName", Value::String(value)));
        }
    }
}
