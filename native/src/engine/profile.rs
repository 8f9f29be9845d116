//! The Redis profile of one customer: its snapshot record (`snapshot::visit_record`) flattened
//! into the strings of one Redis hash, plus its tags for the audience sets, as one JSON object of
//! the array that `agents/serving/write_profile.lua` takes:
//! `{"as_of_ms": "<ms>", "id": "<customer>", "tags": {family: value}, "fields": {field: value}}`.
//!
//! Values are the plain strings a marketing tool reads (agents/serving/profiles.py): a string as
//! it is, anything else as its JSON (booleans `true`/`false`, numbers as orjson writes them); the
//! record's nested objects are flattened one level (`rfm` with an `rfm_` prefix), absent values
//! are left out. Built here, per batch of customers, because doing it in Python per written
//! customer was about 8 % of the worker's time; tests/integration/test_redis_serving.py checks it
//! against a Python reference through a real Redis.

use super::plan::Plan;
use super::snapshot::{visit_record, RecordSink};
use super::state::CustomerState;
use crate::jsonfmt::{write_str, Scalar};

fn text(value: &Scalar) -> String {
    match value {
        Scalar::Str(text) => text.clone(),
        other => {
            let mut out = Vec::new();
            other.write(&mut out);
            String::from_utf8(out).expect("JSON of a scalar is UTF-8")
        }
    }
}

/// Ordered string fields where a repeated name keeps its first place and takes the new value,
/// as assigning to a Python dict does. A few dozen short names: a scan beats hashing them.
#[derive(Default)]
struct Fields {
    entries: Vec<(String, String)>,
}

impl Fields {
    fn set(&mut self, name: String, value: String) {
        match self.entries.iter_mut().find(|(known, _)| *known == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (at, (name, value)) in self.entries.iter().enumerate() {
            if at > 0 {
                out.push(b',');
            }
            write_str(out, name);
            out.push(b':');
            write_str(out, value);
        }
        out.push(b'}');
    }
}

#[derive(Default)]
struct Profile {
    fields: Fields,
    tags: Fields,
    customer_id: String,
    /// The object being flattened, if any.
    inside: Option<String>,
}

impl RecordSink for Profile {
    fn value(&mut self, name: &str, value: Scalar) {
        match self.inside.as_deref() {
            Some("tags") => self.tags.set(name.to_owned(), text(&value)),
            _ if matches!(value, Scalar::Null) => {}
            Some("rfm") => self.fields.set(format!("rfm_{name}"), text(&value)),
            // A trait may share a metric's name (`region`): prefixed, as RFM scores are.
            Some("traits") => self.fields.set(format!("trait_{name}"), text(&value)),
            Some(_) => self.fields.set(name.to_owned(), text(&value)),
            None => {
                if name == "customer_id" {
                    self.customer_id = text(&value);
                }
                self.fields.set(name.to_owned(), text(&value));
            }
        }
    }

    fn open(&mut self, name: &str) {
        self.inside = Some(name.to_owned());
    }

    fn close(&mut self) {
        self.inside = None;
    }
}

/// The profile JSON of a customer's state, as of its own clock.
pub fn redis_profile(plan: &Plan, customer_id: &str, state: &CustomerState) -> Vec<u8> {
    let at = state.clock.filter(|clock| *clock != 0).unwrap_or(0);
    let mut profile = Profile::default();
    visit_record(plan, customer_id, state, at, &mut profile);
    let Profile {
        mut fields,
        tags,
        customer_id,
        ..
    } = profile;
    for (family, value) in &tags.entries {
        fields.set(format!("tag:{family}"), value.clone());
    }
    let as_of = at.to_string();
    fields.set("as_of_ms".to_owned(), as_of.clone());
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"as_of_ms\":");
    write_str(&mut out, &as_of);
    out.extend_from_slice(b",\"id\":");
    write_str(&mut out, &customer_id);
    out.extend_from_slice(b",\"tags\":");
    tags.write(&mut out);
    out.extend_from_slice(b",\"fields\":");
    fields.write(&mut out);
    out.push(b'}');
    out
}
