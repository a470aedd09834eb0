//! SCIM filters (RFC 7644 §3.4.2.2) and attribute paths: text → AST.
//!
//! Precedence follows the RFC: `or` binds loosest, then `and`, then `not` and grouping. Besides
//! the RFC grammar this accepts Entra's `emails[type eq "work"].value eq "x"`, read as
//! `emails[type eq "work" and value eq "x"]`, because Entra sends it for matching.

use serde_json::Value;

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

    fn is_core(&self) -> bool {
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
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, pos: 0 };
        let filter = parser.or_expr()?;
        match parser.peek() {
            None => Ok(filter),
            Some(token) => Err(ScimError::invalid_filter(format!("unexpected {} in filter", token.describe()))),
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

fn word_token(word: String) -> Result<Token, ScimError> {
    let first = word.chars().next().unwrap_or(' ');
    if first.is_ascii_digit() || first == '-' || first == '+' {
        let value: Value = serde_json::from_str(word.trim_start_matches('+'))
            .map_err(|_| ScimError::invalid_filter(format!("'{word}' is not a number")))?;
        return Ok(Token::Literal(value));
    }
    Ok(match word.as_str() {
        "true" => Token::Literal(Value::Bool(true)),
        "false" => Token::Literal(Value::Bool(false)),
        "null" => Token::Literal(Value::Null),
        _ => Token::Word(word),
    })
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
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
        if self.peek_keyword("not") {
            self.pos += 1;
            let Some(Token::Open) = self.next() else {
                return Err(ScimError::invalid_filter("'not' must be followed by '('"));
            };
            return Ok(Filter::Not(Box::new(self.group_rest()?)));
        }
        if let Some(Token::Open) = self.peek() {
            self.pos += 1;
            return self.group_rest();
        }
        self.attribute_expr()
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
            let inner = self.or_expr()?;
            let Some(Token::CloseBracket) = self.next() else {
                return Err(ScimError::invalid_filter("missing ']' in filter"));
            };
            let mut inner = inner;
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
        match self.next() {
            Some(Token::Literal(value)) => Ok(Filter::Compare { path, op, value }),
            Some(other) => Err(ScimError::invalid_filter(format!(
                "expected a value after the operator, found {}",
                other.describe()
            ))),
            None => Err(ScimError::invalid_filter("filter ends where a value was expected")),
        }
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

    proptest::proptest! {
        #[test]
        fn parser_never_panics(text in ".{0,64}") {
            let _ = Filter::parse(&text);
        }

        #[test]
        fn equality_on_any_string_round_trips(value in "[^\\\\\"]{0,32}") {
            let text = format!("userName eq {}", serde_json::to_string(&value).unwrap());
            proptest::prop_assert_eq!(Filter::parse(&text).unwrap(), eq("userName", Value::String(value)));
        }
    }
}
