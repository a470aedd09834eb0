//! Wire → domain for the core's requests. The core does not trust the typed fields alone: it
//! re-derives them from the normalized attributes and refuses a message where they disagree.

use scim::{GroupInput, ScimError, UserInput};
use serde_json::{Map, Value};

use crate::error::CoreError;

fn attributes(json: &str) -> Result<Map<String, Value>, ScimError> {
    match serde_json::from_str(json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ScimError::invalid_syntax("attributes_json is not a JSON object")),
    }
}

pub fn user_input(message: Option<proto::UserInput>) -> Result<UserInput, CoreError> {
    let proto::UserInput { user_name, external_id, active, display_name, attributes_json } =
        message.ok_or_else(|| ScimError::invalid_syntax("the request has no user"))?;
    let input = UserInput::from_attributes(attributes(&attributes_json)?)?;
    if input.user_name != user_name
        || input.external_id != external_id
        || input.active != active
        || input.display_name != display_name
    {
        return Err(ScimError::invalid_value("the typed fields disagree with attributes_json").into());
    }
    Ok(input)
}

pub fn group_input(message: Option<proto::GroupInput>) -> Result<GroupInput, CoreError> {
    let proto::GroupInput { display_name, external_id, member_ids, attributes_json } =
        message.ok_or_else(|| ScimError::invalid_syntax("the request has no group"))?;
    // The gateway's bounds, applied again here: the gRPC port is an entry of its own.
    scim::resource::check_member_count(member_ids.len())?;
    let input = GroupInput::from_attributes(attributes(&attributes_json)?, member_ids)?;
    if input.display_name != display_name || input.external_id != external_id {
        return Err(ScimError::invalid_value("the typed fields disagree with attributes_json").into());
    }
    Ok(input)
}

pub fn patch_operations(operations: Vec<proto::PatchOperation>) -> Result<Vec<scim::PatchOperation>, CoreError> {
    if operations.len() > scim::patch::MAX_OPERATIONS {
        let max = scim::patch::MAX_OPERATIONS;
        let detail = format!("a PATCH holds at most {max} operations, this one {}", operations.len());
        return Err(ScimError::invalid_value(detail).into());
    }
    let operations: Vec<scim::PatchOperation> =
        operations.into_iter().map(scim::PatchOperation::try_from).collect::<Result<_, _>>()?;
    scim::patch::check_bounds(&operations)?;
    Ok(operations)
}

pub fn filter(filter: Option<proto::Filter>) -> Result<Option<scim::Filter>, CoreError> {
    let filter = filter.map(scim::Filter::try_from).transpose()?;
    if let Some(terms) = filter.as_ref().map(scim::Filter::terms)
        && terms > scim::filter::MAX_FILTER_TERMS
    {
        let max = scim::filter::MAX_FILTER_TERMS;
        return Err(
            ScimError::invalid_filter(format!("a filter may hold at most {max} conditions, this one {terms}")).into()
        );
    }
    Ok(filter)
}
