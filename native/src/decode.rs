//! `schemas/events.py` `decode_event` in Rust: the same acceptance, the same rejection reasons and
//! (except where the JSON parser words its own errors) the same messages. Differences are listed in
//! docs/native.md; tests/unit/test_native_decode.py checks the rest against the Python decoder.

use crate::pyrepr::{bytes_repr, is_printable, str_repr, type_name, value_repr};
use crate::timestamp::{format_ts, parse_rfc3339, Parsed};
use serde_json::{Map, Value};
use std::borrow::Cow;

mod fast;

/// The input event types, one topic each: four activity types, then a customer's `profile`
/// (traits, no activity) and `custom` events (a name and properties, like analytics "track" calls).
pub const EVENT_TYPES: [&str; 6] = ["order", "email_open", "click", "visit", "profile", "custom"];
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
pub const MAX_ID_CHARS: usize = 128;
/// A channel or item category: kept in the customer's state (as a `top` counter key) and
/// published as a tag value, so a producer's 2,000-character strings would bloat every state
/// they reach (133 KB for one customer before this bound).
pub const MAX_LABEL_CHARS: usize = 64;
pub const MAX_AMOUNT: f64 = 1e9;
pub const EARLIEST_MS: i128 = 0;
pub const SMALLEST_EPOCH_MS: i128 = 100_000_000_000;
pub const LATEST_MS: i128 = 253_402_300_799_999;
/// orjson refuses documents nested deeper than this; serde_json's own limit (128) is lifted.
const MAX_DEPTH: usize = 1024;
/// Real events are 2-3 levels deep; deeper ones are decoded on a thread with DEEP_STACK_BYTES,
/// so that no caller's thread (Python's may have a small stack) has to hold 1024 levels.
const INLINE_DEPTH: usize = 64;
const DEEP_STACK_BYTES: usize = 64 << 20;

/// One decoded event, the fields of `schemas.events.Event`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: String,
    pub kind: &'static str,
    pub customer_id: String,
    pub ts: i64,
    pub amount_cents: i64,
    pub coupon: bool,
    pub channel: Option<String>,
    pub categories: Vec<String>,
}

impl Event {
    /// An event with its identity and time; the order fields are set by the caller for orders.
    pub fn new(event_id: &str, kind: &'static str, customer_id: &str, ts: i64) -> Self {
        Event {
            event_id: event_id.to_owned(),
            kind,
            customer_id: customer_id.to_owned(),
            ts,
            amount_cents: 0,
            coupon: false,
            channel: None,
            categories: Vec::new(),
        }
    }
}

/// Why a record is not an event: `reason` is the bounded code, `message` the text for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub message: String,
}

fn reject(reason: &'static str, message: String) -> Rejection {
    Rejection { reason, message }
}

/// Decode one record; `key`, when given, must equal the customer id; an event later than
/// `latest_ms` is rejected as `future_ts` once it is otherwise valid.
pub fn decode_event(raw: &[u8], key: Option<&[u8]>, latest_ms: Option<i64>) -> Result<Event, Rejection> {
    let event = decode(raw, key)?;
    match latest_ms {
        Some(latest) if event.ts > latest => Err(reject(
            "future_ts",
            format!(
                "'ts' {} is ahead of the wall clock by more than the allowed skew (latest accepted: {})",
                format_ts(event.ts),
                format_ts(latest)
            ),
        )),
        _ => Ok(event),
    }
}

/// Checks the bytes, then takes the fast path (`fast.rs`) for a common-shaped event it can finish
/// on its own, and the full path for everything else: the full path alone words rejections.
fn decode(raw: &[u8], key: Option<&[u8]>) -> Result<Event, Rejection> {
    let text = checked_text(raw)?;
    if let Some(event) = fast::decode(text, key) {
        return Ok(event);
    }
    decode_full(text, key)
}

/// Decodes the JSON inline, or for a deeply nested document on a thread with a stack large enough
/// for serde_json's recursion (parse, `repr` and drop all recurse).
fn decode_full(text: &str, key: Option<&[u8]>) -> Result<Event, Rejection> {
    let shape = scan(text);
    if shape.depth > MAX_DEPTH {
        return Err(not_json("not_json", "depth limit exceeded"));
    }
    let text = if !shape.negative_zeros.is_empty() {
        Cow::Owned(integer_negative_zero_as_zero(text, &shape.negative_zeros))
    } else {
        Cow::Borrowed(text)
    };
    if shape.depth <= INLINE_DEPTH {
        return decode_text(&text, key);
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(DEEP_STACK_BYTES)
            .spawn_scoped(scope, || decode_text(&text, key))
            .map_or_else(
                |_| Err(not_json("not_json", "depth limit exceeded")),
                |thread| {
                    thread
                        .join()
                        .unwrap_or_else(|_| Err(not_json("not_json", "depth limit exceeded")))
                },
            )
    })
}

fn not_json(reason: &'static str, detail: &str) -> Rejection {
    reject(reason, format!("not a JSON document: {detail}"))
}

fn decode_text(text: &str, key: Option<&[u8]>) -> Result<Event, Rejection> {
    let doc = parse_json(text)?;
    let Value::Object(doc) = doc else {
        return Err(reject(
            "bad_type",
            format!("expected a JSON object, got {}", type_name(&doc)),
        ));
    };
    let text = required_str(&doc, "type")?;
    let Some(kind) = event_kind(text) else {
        return Err(reject(
            "unknown_type",
            format!(
                "unknown event type {}; expected one of ('order', 'email_open', 'click', 'visit', 'profile', 'custom')",
                str_repr(text)
            ),
        ));
    };
    let customer_id = identifier(&doc, "customer_id")?;
    if let Some(key) = key.filter(|key| *key != customer_id.as_bytes()) {
        return Err(reject(
            "key_mismatch",
            format!(
                "record key {} differs from customer_id {}",
                bytes_repr(&key[..key.len().min(64)]),
                str_repr(customer_id)
            ),
        ));
    }
    let event_id = identifier(&doc, "event_id")?;
    let ts = timestamp(field(&doc, "ts"))?;
    let mut event = Event::new(event_id, kind, customer_id, ts);
    if kind == "order" {
        event.amount_cents = amount_cents(field(&doc, "amount"))?;
        event.coupon = optional_str(&doc, "coupon")?.is_some();
        event.channel = optional_str(&doc, "channel")?
            .map(|channel| label("channel", channel))
            .transpose()?;
        event.categories = categories(field(&doc, "items"))?;
    }
    match kind {
        "profile" => traits_object(&doc)?,
        "custom" => custom_name(&doc)?,
        _ => {}
    }
    Ok(event)
}

/// A profile event's `traits`: an object (its values are checked against the pack's traits when
/// the event is routed, `engine::traits`).
fn traits_object(doc: &Map<String, Value>) -> Result<(), Rejection> {
    match field(doc, "traits") {
        None => Err(reject(
            "missing_field",
            "a profile event needs a 'traits' object".to_owned(),
        )),
        Some(Value::Object(_)) => Ok(()),
        Some(other) => Err(reject(
            "bad_type",
            format!("'traits' must be an object, got {}", type_name(other)),
        )),
    }
}

/// A custom event's `name`: what the pack's property metrics select it by, bounded like a label.
fn custom_name(doc: &Map<String, Value>) -> Result<(), Rejection> {
    let name = required_str(doc, "name")?;
    if name.is_empty() || !is_label(name) || !name.chars().all(is_printable) {
        return Err(reject(
            "bad_value",
            format!("'name' must be 1..{MAX_LABEL_CHARS} printable characters"),
        ));
    }
    Ok(())
}

/// The known event type named `text`, as the `'static` name an `Event` carries.
fn event_kind(text: &str) -> Option<&'static str> {
    EVENT_TYPES.iter().copied().find(|known| *known == text)
}

/// Whether the record key, when there is one, is the customer id.
fn key_matches(key: Option<&[u8]>, customer_id: &str) -> bool {
    key.is_none_or(|key| key == customer_id.as_bytes())
}

/// orjson's acceptance, first part: the size limit, UTF-8 without a byte order mark, not empty.
fn checked_text(raw: &[u8]) -> Result<&str, Rejection> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(reject(
            "too_large",
            format!("event is {} bytes; the limit is {MAX_EVENT_BYTES}", raw.len()),
        ));
    }
    // orjson's wording for these three, so the messages match too ("UTF-8" in them: not_utf8).
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(not_json(
            "not_utf8",
            "str is not valid UTF-8: surrogates not allowed: line 1 column 1 (char 0)",
        ));
    };
    if text.starts_with('\u{feff}') {
        return Err(not_json(
            "not_utf8",
            "UTF-8 byte order mark (BOM) is not supported: line 1 column 1 (char 0)",
        ));
    }
    if text.is_empty() {
        return Err(not_json(
            "not_json",
            "Input is a zero-length, empty document: line 1 column 1 (char 0)",
        ));
    }
    Ok(text)
}

/// The second part: one JSON value with finite numbers (nesting is bounded by `scan`).
fn parse_json(text: &str) -> Result<Value, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    serde::Deserialize::deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|error| not_json("not_json", &error.to_string()))
}

/// What one pass over the text outside strings finds.
struct Shape {
    depth: usize,
    /// Where integer `-0` tokens start: serde_json reads them as the float -0.0, orjson (and
    /// Python) as the int 0.
    negative_zeros: Vec<usize>,
}

fn scan(text: &str) -> Shape {
    let bytes = text.as_bytes();
    let mut shape = Shape {
        depth: 0,
        negative_zeros: Vec::new(),
    };
    let mut depth = 0usize;
    for (at, byte) in outside_strings(bytes) {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                shape.depth = shape.depth.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'-' if is_integer_negative_zero(bytes, at) => shape.negative_zeros.push(at),
            _ => {}
        }
    }
    shape
}

/// The bytes of JSON text that are not inside a string literal (the quotes themselves included).
fn outside_strings(bytes: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let (mut in_string, mut escaped) = (false, false);
    bytes.iter().enumerate().filter_map(move |(at, &byte)| {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            return None;
        }
        in_string = byte == b'"';
        Some((at, byte))
    })
}

/// `-0` as a whole integer token: not an exponent's sign (`1e-0`) and not followed by a fraction,
/// exponent or more digits.
fn is_integer_negative_zero(bytes: &[u8], at: usize) -> bool {
    let after_exponent = at > 0 && matches!(bytes[at - 1], b'e' | b'E');
    let zero = bytes.get(at + 1) == Some(&b'0');
    let ends = !matches!(bytes.get(at + 2), Some(b'0'..=b'9' | b'.' | b'e' | b'E'));
    !after_exponent && zero && ends
}

/// The text with the `-` of each integer `-0` (at `signs`) written as a space: the same length and
/// the same validity (a space may stand wherever a value may start), and the integer 0 orjson reads.
fn integer_negative_zero_as_zero(text: &str, signs: &[usize]) -> String {
    let mut out = text.as_bytes().to_vec();
    for &at in signs {
        out[at] = b' ';
    }
    String::from_utf8(out).expect("only an ASCII byte was replaced by another")
}

/// `doc.get(field)` as Python sees it: JSON null and a missing key are both None.
fn field<'a>(doc: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    doc.get(name).filter(|value| !value.is_null())
}

fn required_str<'a>(doc: &'a Map<String, Value>, name: &str) -> Result<&'a str, Rejection> {
    match field(doc, name) {
        None => Err(reject("missing_field", format!("missing field '{name}'"))),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(reject(
            "bad_type",
            format!("'{name}' must be a string, got {}", type_name(other)),
        )),
    }
}

fn identifier<'a>(doc: &'a Map<String, Value>, name: &str) -> Result<&'a str, Rejection> {
    let text = required_str(doc, name)?;
    if !is_identifier(text) {
        return Err(reject(
            "bad_value",
            format!("'{name}' must be 1..{MAX_ID_CHARS} printable characters"),
        ));
    }
    Ok(text)
}

/// `0 < len(text) <= MAX_ID_CHARS and text.isprintable()`: Python counts code points. ASCII text
/// (the common case) is printable exactly when every byte is in 0x20..=0x7E, which is what the
/// table says for those characters (`printable_ascii_is_the_table` checks it).
fn is_identifier(text: &str) -> bool {
    if text.is_ascii() {
        return (1..=MAX_ID_CHARS).contains(&text.len()) && text.bytes().all(|byte| (0x20..0x7f).contains(&byte));
    }
    let chars = text.chars().count();
    (1..=MAX_ID_CHARS).contains(&chars) && text.chars().all(is_printable)
}

/// An optional string; the empty string counts as absent (`value or None`).
fn optional_str<'a>(doc: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Rejection> {
    match field(doc, name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str()).filter(|text| !text.is_empty())),
        Some(other) => Err(reject(
            "bad_type",
            format!("'{name}' must be a string, got {}", type_name(other)),
        )),
    }
}

/// `parse_timestamp`: RFC 3339 text or integer epoch milliseconds, range-checked.
fn timestamp(value: Option<&Value>) -> Result<i64, Rejection> {
    match value {
        None => Err(reject("missing_field", "missing field 'ts'".to_owned())),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => timestamp_millis(
            n.as_i64()
                .map_or_else(|| i128::from(n.as_u64().unwrap_or(u64::MAX)), i128::from),
        ),
        Some(Value::String(text)) => timestamp_text(text),
        Some(other) => {
            // A container is named by its type, as in Python: its repr can be megabytes.
            let shown = match other {
                Value::Array(_) => "list".to_owned(),
                Value::Object(_) => "dict".to_owned(),
                scalar => value_repr(scalar),
            };
            Err(reject(
                "bad_type",
                format!("'ts' must be an RFC 3339 string or epoch milliseconds, got {shown}"),
            ))
        }
    }
}

/// An integer `ts`: epoch milliseconds, not seconds, in range.
fn timestamp_millis(millis: i128) -> Result<i64, Rejection> {
    if (0..SMALLEST_EPOCH_MS).contains(&millis) {
        return Err(reject(
            "bad_value",
            format!(
                "'ts' {millis} looks like epoch seconds; send epoch milliseconds \
                 (or RFC 3339 text for instants before 1973-03-03)"
            ),
        ));
    }
    timestamp_in_range(millis, None)
}

/// A text `ts`: an RFC 3339 instant, in range.
fn timestamp_text(text: &str) -> Result<i64, Rejection> {
    // Rendered only for a message: an accepted event never needs it.
    let shown = || str_repr(&text.chars().take(64).collect::<String>());
    match parse_rfc3339(text) {
        Parsed::Instant(millis) => timestamp_in_range(i128::from(millis), Some(text)),
        Parsed::Naive => Err(reject("bad_value", format!("'ts' has no timezone: {}", shown()))),
        Parsed::Invalid => Err(reject("bad_value", format!("'ts' is not RFC 3339: {}", shown()))),
    }
}

/// The range check of either form; `shown` is the text of a text `ts`.
fn timestamp_in_range(ts: i128, shown: Option<&str>) -> Result<i64, Rejection> {
    let bad_value = |message: String| reject("bad_value", message);
    // The value as the message shows it: the number, or the text's repr (first 64 characters).
    let shown = || {
        shown.map_or_else(
            || ts.to_string(),
            |text| str_repr(&text.chars().take(64).collect::<String>()),
        )
    };
    if ts < EARLIEST_MS {
        return Err(bad_value(format!("'ts' {} is before 1970-01-01", shown())));
    }
    if ts > LATEST_MS {
        return Err(bad_value(format!(
            "'ts' {} is after 9999-12-31 (epoch microseconds or nanoseconds?)",
            shown()
        )));
    }
    Ok(i64::try_from(ts).expect("within EARLIEST_MS..=LATEST_MS"))
}

/// A non-negative amount up to MAX_AMOUNT, in cents: `round(value * 100)`, half to even, as the
/// Python decoder computes it on the float.
fn amount_cents(value: Option<&Value>) -> Result<i64, Rejection> {
    let Some(value) = value else {
        return Err(reject("missing_field", "an order needs an 'amount'".to_owned()));
    };
    let Value::Number(number) = value else {
        return Err(reject(
            "bad_type",
            format!("'amount' must be a number, got {}", type_name(value)),
        ));
    };
    let in_range = match (number.as_u64(), number.as_i64(), number.as_f64()) {
        (Some(whole), _, _) => whole as f64 <= MAX_AMOUNT,
        (None, Some(_), _) => false, // negative integer
        (None, None, Some(float)) => (0.0..=MAX_AMOUNT).contains(&float),
        (None, None, None) => false,
    };
    if !in_range {
        return Err(reject(
            "bad_value",
            format!("'amount' must be between 0 and 1000000000, got {}", value_repr(value)),
        ));
    }
    Ok(match number.as_u64() {
        Some(whole) => i64::try_from(whole).expect("at most MAX_AMOUNT") * 100,
        None => (number.as_f64().unwrap_or(0.0) * 100.0).round_ties_even() as i64,
    })
}

/// The distinct non-empty `items[].category` strings, in order of first appearance.
fn categories(items: Option<&Value>) -> Result<Vec<String>, Rejection> {
    let items = match items {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(reject("bad_type", "'items' must be a list".to_owned())),
    };
    let mut found = Vec::new();
    for item in items {
        if let Some(Value::String(category)) = item.as_object().and_then(|item| item.get("category")) {
            add_category(&mut found, category);
        }
    }
    found
        .into_iter()
        .map(|category| label("items[].category", category))
        .collect()
}

/// Whether a channel or category is within `MAX_LABEL_CHARS` characters.
fn is_label(text: &str) -> bool {
    text.len() <= MAX_LABEL_CHARS || text.chars().nth(MAX_LABEL_CHARS).is_none()
}

/// A channel or category, refused beyond `MAX_LABEL_CHARS` characters.
fn label(name: &str, text: &str) -> Result<String, Rejection> {
    if !is_label(text) {
        let start: String = text.chars().take(32).collect();
        return Err(reject(
            "bad_value",
            format!(
                "'{name}' must be at most {MAX_LABEL_CHARS} characters, got {} ({}...)",
                text.chars().count(),
                str_repr(&start)
            ),
        ));
    }
    Ok(text.to_owned())
}

/// One item's string `category`: kept when it is not empty and not already found.
fn add_category<'a>(found: &mut Vec<&'a str>, category: &'a str) {
    if !category.is_empty() && !found.contains(&category) {
        found.push(category);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &str) -> Result<Event, Rejection> {
        decode_event(raw.as_bytes(), None, None)
    }

    #[test]
    fn negative_zero_integer_is_the_integer_zero() {
        let rejection = decoded(r#"{"type":"click","customer_id":"c1","event_id":"e1","ts":-0}"#).unwrap_err();
        assert!(
            rejection.message.starts_with("'ts' 0 looks like epoch seconds"),
            "{}",
            rejection.message
        );
        let rejection = decoded(r#"{"type":"click","customer_id":"c1","event_id":"e1","ts":-0.0}"#).unwrap_err();
        assert_eq!(rejection.reason, "bad_type");
        assert!(rejection.message.ends_with("got -0.0"));
        let event = decoded(r#"{"type":"order","customer_id":"c-0","event_id":"e1","ts":1e-0,"amount":-0}"#);
        assert_eq!(event.unwrap_err().reason, "bad_type"); // 1e-0 is a float; the exponent's sign stays
        let text = r#"["-0",-0,-0.5,1e-0,-0e1,-01]"#;
        assert_eq!(
            integer_negative_zero_as_zero(text, &scan(text).negative_zeros),
            r#"["-0", 0,-0.5,1e-0,-0e1,-01]"#
        );
    }

    #[test]
    fn printable_ascii_is_the_table() {
        for byte in 0..0x80_u8 {
            assert_eq!(
                is_printable(char::from(byte)),
                (0x20..0x7f).contains(&byte),
                "{byte:#x}"
            );
        }
        for text in [
            "c1",
            "a b",
            "~",
            "",
            "x\u{7f}",
            "\t",
            &"x".repeat(128),
            &"x".repeat(129),
        ] {
            let chars = text.chars().count();
            let by_table = (1..=MAX_ID_CHARS).contains(&chars) && text.chars().all(is_printable);
            assert_eq!(is_identifier(text), by_table, "{text:?}");
        }
    }

    #[test]
    fn depth_is_bounded_like_orjson() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(decoded(&deep(1024)).unwrap_err().reason, "bad_type");
        assert_eq!(decoded(&deep(1025)).unwrap_err().reason, "not_json");
    }

    #[test]
    fn amounts_round_half_to_even_on_the_float() {
        let order = |amount: &str| {
            decoded(&format!(
                r#"{{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":{amount}}}"#
            ))
        };
        assert_eq!(order("0.125").unwrap().amount_cents, 12); // 12.5 -> 12
        assert_eq!(order("0.375").unwrap().amount_cents, 38); // 37.5 -> 38
        assert_eq!(order("1.005").unwrap().amount_cents, 100); // 100.49999999999999
        assert_eq!(order("1000000000").unwrap().amount_cents, 100_000_000_000);
        assert_eq!(order("1000000000.0000001").unwrap_err().reason, "bad_value");
        assert_eq!(
            order("-1").unwrap_err().message,
            "'amount' must be between 0 and 1000000000, got -1"
        );
        assert_eq!(
            order("true").unwrap_err().message,
            "'amount' must be a number, got bool"
        );
    }
}
