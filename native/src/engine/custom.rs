//! Custom events the pack declares (`[events.<name>]`, `stream.metrics.CustomEvent`): a kind of
//! event added by configuration. A custom event whose name the pack declares must carry the
//! declared fields with their types, at the top level or in its `properties` object (where
//! property metrics read them); one that does not is dead-lettered with a message naming the
//! event and the field. A name the pack does not declare is accepted as it is (an analytics
//! "track" call no rule reads yet).

use super::plan::{FieldType, Plan};
use crate::pyrepr::{str_repr, type_name};
use serde_json::Value;

/// Whether a custom event (`raw`, already decoded) has what its declaration requires.
pub fn check(plan: &Plan, raw: &[u8]) -> Result<(), (&'static str, String)> {
    if plan.custom_events.is_empty() {
        return Ok(());
    }
    let doc: Value = serde_json::from_slice(raw).map_err(|error| ("not_json", error.to_string()))?;
    let Some(name) = doc.get("name").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(declared) = plan.custom_events.iter().find(|event| event.name == name) else {
        return Ok(());
    };
    let nested = doc.get("properties").and_then(Value::as_object);
    for (field, kind, required) in &declared.fields {
        let value = doc
            .get(field)
            .or_else(|| nested.and_then(|properties| properties.get(field)))
            .filter(|value| !value.is_null());
        let wanted = match kind {
            FieldType::Text => "a string",
            FieldType::Number => "a number",
            FieldType::Bool => "true or false",
        };
        match value {
            None if *required => {
                return Err((
                    "missing_field",
                    format!("custom event {} needs field {}", str_repr(name), str_repr(field)),
                ))
            }
            None => {}
            Some(value) if !is_a(*kind, value) => {
                return Err((
                    "bad_type",
                    format!(
                        "field {} of custom event {} must be {wanted}, got {}",
                        str_repr(field),
                        str_repr(name),
                        type_name(value)
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn is_a(kind: FieldType, value: &Value) -> bool {
    match kind {
        FieldType::Text => value.is_string(),
        FieldType::Number => value.is_number(),
        FieldType::Bool => value.is_boolean(),
    }
}
