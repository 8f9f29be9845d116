//! The Redis profile of one customer: its snapshot record flattened into the strings of one Redis
//! hash, plus its tags for the audience sets, as one JSON object of the array that
//! `agents/serving/write_profile.lua` takes:
//! `{"as_of_ms": "<ms>", "id": "<customer>", "tags": {family: value}, "fields": {field: value}}`.
//!
//! Values are the plain strings a marketing tool reads (agents/serving/profiles.py): a string as
//! it is, anything else as its JSON (booleans `true`/`false`, numbers as orjson writes them); a
//! nested object of the record is flattened one level (`rfm` with an `rfm_` prefix), absent
//! values are left out. Built here, per batch of customers, because doing it in Python per written
//! customer was about 8 % of the worker's time.

use serde_json::{Map, Value};

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The profile of a snapshot record (`snapshot::customer_record`) as of `as_of_ms`.
pub fn redis_profile(record: &[u8], as_of_ms: i64) -> Result<Vec<u8>, String> {
    let record: Map<String, Value> = serde_json::from_slice(record).map_err(|error| error.to_string())?;
    let mut fields = Map::new();
    for (name, value) in &record {
        match value {
            _ if name == "tags" => {}
            Value::Null => {}
            Value::Object(inner) => {
                let prefix = if name == "rfm" { "rfm_" } else { "" };
                for (inner_name, inner_value) in inner.iter().filter(|(_, value)| !value.is_null()) {
                    fields.insert(format!("{prefix}{inner_name}"), Value::String(text(inner_value)));
                }
            }
            other => {
                fields.insert(name.clone(), Value::String(text(other)));
            }
        }
    }
    let mut tags = Map::new();
    if let Some(Value::Object(record_tags)) = record.get("tags") {
        for (family, value) in record_tags {
            tags.insert(family.clone(), Value::String(text(value)));
        }
    }
    for (family, value) in &tags {
        fields.insert(format!("tag:{family}"), value.clone());
    }
    let as_of = Value::String(as_of_ms.to_string());
    fields.insert("as_of_ms".to_owned(), as_of.clone());
    let id = record.get("customer_id").map_or_else(String::new, text);
    let mut profile = Map::new();
    profile.insert("as_of_ms".to_owned(), as_of);
    profile.insert("id".to_owned(), Value::String(id));
    profile.insert("tags".to_owned(), Value::Object(tags));
    profile.insert("fields".to_owned(), Value::Object(fields));
    serde_json::to_vec(&Value::Object(profile)).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::redis_profile;

    #[test]
    fn a_record_flattens_into_strings_with_its_tags_twice() {
        let record = br#"{"customer_id":"c1","orders_total":3,"revenue_total":148.88,"first_order_at":null,
            "windows":{"orders_30d":1,"visits_7d":null},"rfm":{"r":5,"f":1},"tags":{"vip":false,"lifecycle":"new","top":null}}"#;
        let profile: serde_json::Value = serde_json::from_slice(&redis_profile(record, 1700).unwrap()).unwrap();
        assert_eq!(
            profile,
            serde_json::json!({
                "as_of_ms": "1700", "id": "c1",
                "tags": {"vip": "false", "lifecycle": "new", "top": "null"},
                "fields": {"customer_id": "c1", "orders_total": "3", "revenue_total": "148.88", "orders_30d": "1",
                           "rfm_r": "5", "rfm_f": "1", "tag:vip": "false", "tag:lifecycle": "new", "tag:top": "null",
                           "as_of_ms": "1700"}
            })
        );
    }

    #[test]
    fn a_record_that_is_not_an_object_is_an_error() {
        assert!(redis_profile(b"[1]", 0).is_err());
    }
}
