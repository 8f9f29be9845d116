//! Tag changes as CloudEvent bytes (`stream/changes.py`): the id and `TagChange.to_json`, byte for
//! byte — compact JSON with every object's keys sorted by their UTF-8 bytes, as orjson's
//! `OPT_SORT_KEYS` writes them.

use crate::jsonfmt::{write_str, Scalar};
use crate::timestamp::write_ts;
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;

const SPEC_VERSION: &str = "1.0";
const CHANGE_TYPE: &str = "dev.tagstream.tag.changed.v1";
const SOURCE: &str = "urn:tagstream:engine";

/// The earliest and latest `at` Python's `format_ts` can write (years 1 to 9999).
pub const AT_RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;

/// `stream.changes.TagChange`, owned (the `change_events` entry point builds these).
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

/// A change's metrics, written in name order.
pub enum Metrics<'a> {
    /// (name, value) pairs sorted by name, no name repeated.
    Sorted(&'a [(&'a str, &'a Scalar)]),
    /// `keys[id]` is metric `id`'s name as a JSON key with its colon (`"orders_90d":`), `ids` the
    /// metrics to write in name order, `values[id]` their values: the engine's form, no copies.
    Keyed {
        keys: &'a [Vec<u8>],
        ids: &'a [usize],
        values: &'a [Scalar],
    },
}

/// A string field: plain text, or already a JSON string literal (quotes and escapes included).
#[derive(Clone, Copy)]
pub enum Text<'a> {
    Plain(&'a str),
    Quoted(&'a [u8]),
}

impl Text<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Text::Plain(text) => write_str(out, text),
            Text::Quoted(json) => out.extend_from_slice(json),
        }
    }
}

/// `text` as a JSON string literal, for `Text::Quoted`.
pub fn quoted(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    write_str(&mut out, text);
    out
}

/// A tag change as borrowed parts: what the engine writes straight from its plan and state,
/// with no allocation per change.
pub struct ChangeRef<'a> {
    pub customer_id: &'a str,
    pub family: Text<'a>,
    pub old: &'a Scalar,
    pub new: &'a Scalar,
    pub at: i64,
    pub rule: Text<'a>,
    pub cause_event_id: Option<&'a str>,
    pub metrics: Metrics<'a>,
}

impl TagChange {
    /// The metrics sorted by name, of a repeated name the last value (a stable sort keeps the
    /// given order among equal names).
    fn sorted_metrics(&self) -> Vec<(&str, &Scalar)> {
        let mut sorted: Vec<(&str, &Scalar)> = self
            .metrics
            .iter()
            .map(|(name, value)| (name.as_str(), value))
            .collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let mut unique: Vec<(&str, &Scalar)> = Vec::with_capacity(sorted.len());
        for pair in sorted {
            match unique.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => unique.push(pair),
            }
        }
        unique
    }

    fn with_ref<T>(&self, use_it: impl FnOnce(&ChangeRef) -> T) -> T {
        let metrics = self.sorted_metrics();
        use_it(&ChangeRef {
            customer_id: &self.customer_id,
            family: Text::Plain(&self.family),
            old: &self.old,
            new: &self.new,
            at: self.at,
            rule: Text::Plain(&self.rule),
            cause_event_id: self.cause_event_id.as_deref(),
            metrics: Metrics::Sorted(&metrics),
        })
    }

    /// blake2b-128 (hex) of the compact JSON `[customer_id, family, at, old, new, cause_event_id]`.
    #[cfg(test)]
    pub fn id(&self) -> String {
        self.with_ref(|change| {
            let mut out = Vec::with_capacity(32);
            change.write_id(&mut out);
            String::from_utf8(out).expect("hex digits")
        })
    }

    /// `TagChange.to_json()`, or None when `at` is outside the years 1–9999 (Python raises).
    pub fn to_json(&self) -> Option<Vec<u8>> {
        self.with_ref(|change| {
            let mut out = Vec::with_capacity(512);
            change.write_json(&mut out).then_some(out)
        })
    }
}

impl ChangeRef<'_> {
    /// Append the lowercase hex of the change's id.
    pub fn write_id(&self, out: &mut Vec<u8>) {
        let mut identity = Vec::with_capacity(128 + self.customer_id.len());
        identity.push(b'[');
        write_str(&mut identity, self.customer_id);
        identity.push(b',');
        self.family.write(&mut identity);
        identity.push(b',');
        Scalar::Int(self.at).write(&mut identity);
        identity.push(b',');
        self.old.write(&mut identity);
        identity.push(b',');
        self.new.write(&mut identity);
        identity.push(b',');
        write_optional_str(&mut identity, self.cause_event_id);
        identity.push(b']');

        let mut hasher = Blake2bVar::new(16).expect("16 is a valid blake2b digest length");
        hasher.update(&identity);
        let mut digest = [0u8; 16];
        hasher
            .finalize_variable(&mut digest)
            .expect("the buffer has the digest length");
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for byte in digest {
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        }
    }

    /// Append `TagChange.to_json()`; false (and nothing appended) when `at` is outside the years
    /// 1–9999, where Python raises.
    pub fn write_json(&self, out: &mut Vec<u8>) -> bool {
        if !AT_RANGE.contains(&self.at) {
            return false;
        }
        let mut at = [0u8; 24];
        let Some(at) = write_ts(&mut at, self.at) else {
            return false;
        };
        out.extend_from_slice(b"{\"data\":{\"at\":\"");
        out.extend_from_slice(at);
        out.extend_from_slice(b"\",\"cause_event_id\":");
        write_optional_str(out, self.cause_event_id);
        out.extend_from_slice(b",\"customer_id\":");
        write_str(out, self.customer_id);
        out.extend_from_slice(b",\"family\":");
        self.family.write(out);
        out.extend_from_slice(b",\"from\":");
        self.old.write(out);
        out.extend_from_slice(b",\"metrics\":{");
        match self.metrics {
            Metrics::Sorted(pairs) => {
                for (index, (name, value)) in pairs.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    write_str(out, name);
                    out.push(b':');
                    value.write(out);
                }
            }
            Metrics::Keyed { keys, ids, values } => {
                for (index, id) in ids.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&keys[*id]);
                    values[*id].write(out);
                }
            }
        }
        out.extend_from_slice(b"},\"rule\":");
        self.rule.write(out);
        out.extend_from_slice(b",\"to\":");
        self.new.write(out);
        out.extend_from_slice(b"},\"datacontenttype\":\"application/json\",\"id\":\"");
        self.write_id(out);
        out.extend_from_slice(b"\",\"source\":\"");
        out.extend_from_slice(SOURCE.as_bytes());
        out.extend_from_slice(b"\",\"specversion\":\"");
        out.extend_from_slice(SPEC_VERSION.as_bytes());
        out.extend_from_slice(b"\",\"subject\":");
        let mut subject = String::with_capacity(9 + self.customer_id.len());
        subject.push_str("customer/");
        subject.push_str(self.customer_id);
        write_str(out, &subject);
        out.extend_from_slice(b",\"time\":\"");
        out.extend_from_slice(at);
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(CHANGE_TYPE.as_bytes());
        out.extend_from_slice(b"\"}");
        true
    }
}

fn write_optional_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => write_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
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
        let mut repeated = change();
        repeated.metrics = vec![
            ("b".into(), Scalar::Int(1)),
            ("a".into(), Scalar::Int(2)),
            ("b".into(), Scalar::Int(3)),
            ("é".into(), Scalar::Null),
            ("Z".into(), Scalar::Bool(true)),
        ];
        let json = String::from_utf8(repeated.to_json().unwrap()).unwrap();
        assert!(json.contains(r#""metrics":{"Z":true,"a":2,"b":3,"é":null}"#), "{json}");
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
