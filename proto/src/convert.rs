//! Domain ↔ wire conversions for what both sides of the gRPC hop share: filters and PATCH
//! operations. Messages are destructured, so a new field fails to compile until handled here.

use scim::{AttrPath, CompareOp as ScimCompareOp, Filter as ScimFilter, PatchOp as ScimPatchOp, ScimError};
use serde_json::Value;

use crate::v1::{CompareOp, Comparison, Filter, FilterList, PatchOp, PatchOperation, ValuePathFilter, filter::Kind};

impl From<&ScimFilter> for Filter {
    fn from(filter: &ScimFilter) -> Self {
        let kind = match filter {
            ScimFilter::Compare { path, op, value } => Kind::Compare(Comparison {
                attribute: path.to_string(),
                op: compare_op(*op) as i32,
                value_json: value.to_string(),
            }),
            ScimFilter::Present(path) => Kind::Present(path.to_string()),
            // A chain of one operator travels as one list, so a long `or` does not nest messages.
            ScimFilter::And(..) => {
                Kind::And(FilterList { filters: chain(filter, true).into_iter().map(Filter::from).collect() })
            }
            ScimFilter::Or(..) => {
                Kind::Or(FilterList { filters: chain(filter, false).into_iter().map(Filter::from).collect() })
            }
            ScimFilter::Not(inner) => Kind::Not(Box::new(inner.as_ref().into())),
            ScimFilter::ValuePath { path, filter } => Kind::ValuePath(Box::new(ValuePathFilter {
                attribute: path.to_string(),
                filter: Some(Box::new(filter.as_ref().into())),
            })),
        };
        Filter { kind: Some(kind) }
    }
}

/// The operands of a chain of `and` (or of `or`), left to right.
fn chain(filter: &ScimFilter, and: bool) -> Vec<&ScimFilter> {
    match (filter, and) {
        (ScimFilter::And(a, b), true) | (ScimFilter::Or(a, b), false) => {
            let mut operands = chain(a, and);
            operands.extend(chain(b, and));
            operands
        }
        (other, _) => vec![other],
    }
}

fn compare_op(op: ScimCompareOp) -> CompareOp {
    match op {
        ScimCompareOp::Eq => CompareOp::Eq,
        ScimCompareOp::Ne => CompareOp::Ne,
        ScimCompareOp::Co => CompareOp::Co,
        ScimCompareOp::Sw => CompareOp::Sw,
        ScimCompareOp::Ew => CompareOp::Ew,
        ScimCompareOp::Gt => CompareOp::Gt,
        ScimCompareOp::Ge => CompareOp::Ge,
        ScimCompareOp::Lt => CompareOp::Lt,
        ScimCompareOp::Le => CompareOp::Le,
    }
}

fn invalid(detail: &str) -> ScimError {
    ScimError::invalid_filter(format!("malformed filter message: {detail}"))
}

impl TryFrom<Filter> for ScimFilter {
    type Error = ScimError;

    fn try_from(filter: Filter) -> Result<Self, ScimError> {
        let Filter { kind } = filter;
        // Folded back to the left-deep tree the parser builds.
        let fold = |list: FilterList,
                    join: fn(Box<ScimFilter>, Box<ScimFilter>) -> ScimFilter|
         -> Result<ScimFilter, ScimError> {
            let FilterList { filters } = list;
            if filters.len() < 2 {
                return Err(invalid("'and' and 'or' take two operands or more"));
            }
            let mut operands = filters.into_iter().map(ScimFilter::try_from);
            let first = operands.next().ok_or_else(|| invalid("empty list"))??;
            operands.try_fold(first, |left, right| Ok(join(Box::new(left), Box::new(right?))))
        };
        Ok(match kind.ok_or_else(|| invalid("empty filter"))? {
            Kind::Compare(Comparison { attribute, op, value_json }) => {
                let op = match CompareOp::try_from(op).map_err(|_| invalid("unknown operator"))? {
                    CompareOp::Unspecified => return Err(invalid("unspecified operator")),
                    CompareOp::Eq => ScimCompareOp::Eq,
                    CompareOp::Ne => ScimCompareOp::Ne,
                    CompareOp::Co => ScimCompareOp::Co,
                    CompareOp::Sw => ScimCompareOp::Sw,
                    CompareOp::Ew => ScimCompareOp::Ew,
                    CompareOp::Gt => ScimCompareOp::Gt,
                    CompareOp::Ge => ScimCompareOp::Ge,
                    CompareOp::Lt => ScimCompareOp::Lt,
                    CompareOp::Le => ScimCompareOp::Le,
                };
                let value: Value = serde_json::from_str(&value_json).map_err(|_| invalid("value is not JSON"))?;
                ScimFilter::Compare { path: AttrPath::parse(&attribute)?, op, value }
            }
            Kind::Present(attribute) => ScimFilter::Present(AttrPath::parse(&attribute)?),
            Kind::And(list) => fold(list, ScimFilter::And)?,
            Kind::Or(list) => fold(list, ScimFilter::Or)?,
            Kind::Not(inner) => ScimFilter::Not(Box::new((*inner).try_into()?)),
            Kind::ValuePath(value_path) => {
                let ValuePathFilter { attribute, filter } = *value_path;
                let filter = filter.ok_or_else(|| invalid("value path without filter"))?;
                ScimFilter::ValuePath { path: AttrPath::parse(&attribute)?, filter: Box::new((*filter).try_into()?) }
            }
        })
    }
}

impl From<&scim::PatchOperation> for PatchOperation {
    fn from(operation: &scim::PatchOperation) -> Self {
        let scim::PatchOperation { op, path, value } = operation;
        let op = match op {
            ScimPatchOp::Add => PatchOp::Add,
            ScimPatchOp::Remove => PatchOp::Remove,
            ScimPatchOp::Replace => PatchOp::Replace,
        };
        PatchOperation { op: op as i32, path: path.clone(), value_json: value.as_ref().map(Value::to_string) }
    }
}

impl TryFrom<PatchOperation> for scim::PatchOperation {
    type Error = ScimError;

    fn try_from(operation: PatchOperation) -> Result<Self, ScimError> {
        let PatchOperation { op, path, value_json } = operation;
        let op = match PatchOp::try_from(op) {
            Ok(PatchOp::Add) => ScimPatchOp::Add,
            Ok(PatchOp::Remove) => ScimPatchOp::Remove,
            Ok(PatchOp::Replace) => ScimPatchOp::Replace,
            Ok(PatchOp::Unspecified) | Err(_) => return Err(ScimError::invalid_syntax("unknown PATCH op")),
        };
        let value = value_json
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|_| ScimError::invalid_value("PATCH value is not JSON"))?;
        Ok(scim::PatchOperation { op, path, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_survive_the_wire() {
        for text in [
            r#"userName eq "a""#,
            r#"id eq "g" and members eq "u""#,
            r#"not (active eq false) or externalId pr"#,
            r#"emails[type eq "work" and value co "@x"]"#,
        ] {
            let filter = ScimFilter::parse(text).unwrap();
            let wire = Filter::from(&filter);
            assert_eq!(ScimFilter::try_from(wire).unwrap(), filter, "{text}");
        }
    }

    #[test]
    fn long_chains_stay_flat_on_the_wire() {
        let terms = scim::filter::MAX_FILTER_TERMS;
        let text = (0..terms).map(|i| format!("id eq \"{i}\"")).collect::<Vec<_>>().join(" or ");
        let filter = ScimFilter::parse(&text).unwrap();
        let wire = Filter::from(&filter);
        let Some(Kind::Or(list)) = &wire.kind else { panic!("an or list") };
        assert_eq!(list.filters.len(), terms);
        let bytes = prost::Message::encode_to_vec(&wire);
        let decoded: Filter = prost::Message::decode(bytes.as_slice()).unwrap();
        assert_eq!(ScimFilter::try_from(decoded).unwrap(), filter);
    }

    #[test]
    fn empty_filter_message_is_rejected() {
        assert!(ScimFilter::try_from(Filter { kind: None }).is_err());
    }

    #[test]
    fn patch_operations_survive_the_wire() {
        let operation = scim::PatchOperation {
            op: ScimPatchOp::Replace,
            path: Some("active".into()),
            value: Some(Value::Bool(false)),
        };
        assert_eq!(scim::PatchOperation::try_from(PatchOperation::from(&operation)).unwrap(), operation);
    }
}
