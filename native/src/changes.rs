//! Tag changes as CloudEvent bytes (`stream/changes.py`): the id and `TagChange.to_json`, byte for
//! byte — compact JSON with every object's keys sorted by their UTF-8 bytes, as orjson's
//! `OPT_SORT_KEYS` writes them.

use crate::jsonfmt::{write_str, Scalar};
use crate::timestamp::format_ts;
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;

const SPEC_VERSION: &str = "1.0";
const CHANGE_TYPE: &str = "dev.tagstream.tag.changed.v1";
const SOURCE: &str = "urn:tagstream:engine";

/// The earliest and latest `at` Python's `format_ts` can write (years 1 to 9999).
pub const AT_RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;

/// `stream.changes.TagChange`.
#[derive(Debug, Clone, PartialEq)]
pub struct TagChange {
    pub customer_id: String,
    pub family: String,
    pub old: Scalar,
    pub new: Scalar,
    pub at: i64,
    pub rule: String,
    pub cause_event_id: Option<String>,
    /// In any order; a repeated key keeps its last value, as building a dict from the pairs would.
    pub metrics: Vec<(String, Scalar)>,
}

impl TagChange {
    /// blake2b-128 (hex) of the compact JSON `[customer_id, family, at, old, new, cause_event_id]`.
    pub fn id(&self) -> String {
        let mut identity = Vec::with_capacity(64 + self.customer_id.len() + self.family.len());
        identity.push(b'[');
        write_str(&mut identity, &self.customer_id);
        identity.push(b',');
        write_str(&mut identity, &self.family);
        identity.push(b',');
        Scalar::Int(self.at).write(&mut identity);
        identity.push(b',');
        self.old.write(&mut identity);
        identity.push(b',');
        self.new.write(&mut identity);
        identity.push(b',');
        write_optional_str(&mut identity, self.cause_event_id.as_deref());
        identity.push(b']');

        let mut hasher = Blake2bVar::new(16).expect("16 is a valid blake2b digest length");
        hasher.update(&identity);
        let mut digest = [0u8; 16];
        hasher
            .finalize_variable(&mut digest)
            .expect("the buffer has the digest length");
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// `TagChange.to_json()`, or None when `at` is outside the years 1–9999 (Python raises).
    pub fn to_json(&self) -> Option<Vec<u8>> {
        if !AT_RANGE.contains(&self.at) {
            return None;
        }
        let at = format_ts(self.at);
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"data\":{\"at\":");
        write_str(&mut out, &at);
        out.extend_from_slice(b",\"cause_event_id\":");
        write_optional_str(&mut out, self.cause_event_id.as_deref());
        out.extend_from_slice(b",\"customer_id\":");
        write_str(&mut out, &self.customer_id);
        out.extend_from_slice(b",\"family\":");
        write_str(&mut out, &self.family);
        out.extend_from_slice(b",\"from\":");
        self.old.write(&mut out);
        out.extend_from_slice(b",\"metrics\":");
        write_metrics(&mut out, &self.metrics);
        out.extend_from_slice(b",\"rule\":");
        write_str(&mut out, &self.rule);
        out.extend_from_slice(b",\"to\":");
        self.new.write(&mut out);
        out.extend_from_slice(b"},\"datacontenttype\":\"application/json\",\"id\":");
        write_str(&mut out, &self.id());
        out.extend_from_slice(b",\"source\":");
        write_str(&mut out, SOURCE);
        out.extend_from_slice(b",\"specversion\":");
        write_str(&mut out, SPEC_VERSION);
        out.extend_from_slice(b",\"subject\":");
        write_str(&mut out, &format!("customer/{}", self.customer_id));
        out.extend_from_slice(b",\"time\":");
        write_str(&mut out, &at);
        out.extend_from_slice(b",\"type\":");
        write_str(&mut out, CHANGE_TYPE);
        out.push(b'}');
        Some(out)
    }
}

fn write_optional_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => write_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// The metrics object, keys sorted by their bytes; of a repeated key only the last value is kept.
fn write_metrics(out: &mut Vec<u8>, metrics: &[(String, Scalar)]) {
    let mut sorted: Vec<&(String, Scalar)> = metrics.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0)); // stable: equal keys stay in the given order
    out.push(b'{');
    let mut first = true;
    for (at, (key, value)) in sorted.iter().map(|pair| (&pair.0, &pair.1)).enumerate() {
        if sorted.get(at + 1).is_some_and(|next| next.0 == *key) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, key);
        out.push(b':');
        value.write(out);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> TagChange {
        TagChange {
            customer_id: "c-1".into(),
            family: "value_tier".into(),
            old: Scalar::Null,
            new: Scalar::Str("gold".into()),
            at: 1_740_830_400_123,
            rule: "value_tier.gold".into(),
            cause_event_id: Some("e-9".into()),
            metrics: vec![
                ("revenue_90d".into(), Scalar::Float(297.88)),
                ("orders_90d".into(), Scalar::Int(3)),
            ],
        }
    }

    #[test]
    fn id_matches_hashlib() {
        // hashlib.blake2b(orjson.dumps(["c-1","value_tier",1740830400123,None,"gold","e-9"]),
        //                 digest_size=16).hexdigest()
        assert_eq!(change().id(), "85ccc95cab7b310df253cf11da7051a3");
    }

    #[test]
    fn cloudevent_is_compact_and_key_sorted() {
        let json = String::from_utf8(change().to_json().unwrap()).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"data":{"at":"2025-03-01T12:00:00.123Z","cause_event_id":"e-9","customer_id":"c-1","#,
                r#""family":"value_tier","from":null,"metrics":{"orders_90d":3,"revenue_90d":297.88},"#,
                r#""rule":"value_tier.gold","to":"gold"},"datacontenttype":"application/json","#,
                r#""id":"85ccc95cab7b310df253cf11da7051a3","source":"urn:tagstream:engine","specversion":"1.0","#,
                r#""subject":"customer/c-1","time":"2025-03-01T12:00:00.123Z","type":"dev.tagstream.tag.changed.v1"}"#
            )
        );
    }

    #[test]
    fn a_repeated_metric_keeps_its_last_value() {
        let mut out = Vec::new();
        write_metrics(
            &mut out,
            &[
                ("b".into(), Scalar::Int(1)),
                ("a".into(), Scalar::Int(2)),
                ("b".into(), Scalar::Int(3)),
                ("é".into(), Scalar::Null),
                ("Z".into(), Scalar::Bool(true)),
            ],
        );
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"Z":true,"a":2,"b":3,"é":null}"#);
    }

    #[test]
    fn at_outside_years_1_to_9999_has_no_json() {
        let mut late = change();
        late.at = *AT_RANGE.end() + 1;
        assert_eq!(late.to_json(), None);
        late.at = *AT_RANGE.start() - 1;
        assert_eq!(late.to_json(), None);
        late.at = *AT_RANGE.start();
        assert!(late.to_json().is_some());
    }
}
