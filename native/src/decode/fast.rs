//! The fast path of `decode`: one pass over the text that reads a common-shaped, valid event
//! straight from borrowed slices, without building a `serde_json::Value`.
//!
//! It answers either a finished `Event` or "not sure" (`None`), never a rejection: on `None` the
//! full path decodes the record again and alone words every rejection. So it only has to be right
//! about what it accepts, and it accepts only what it reads completely:
//!
//! - one JSON object (whitespace around and between tokens allowed), nested at most
//!   `MAX_NESTING` deep, in a subset of JSON that serde_json and orjson both accept and read alike:
//!   strings without any escape or control character (`\` or a byte below 0x20 gives up), numbers
//!   `-?(0|[1-9][0-9]*)(\.[0-9]+)?` of at most `MAX_DIGITS` digits on each side of the point (an
//!   exponent gives up), `true`, `false`, `null`;
//! - keys in any order, unknown keys with any such value (ignored, as the full path ignores them),
//!   a repeated key (its last value counts, as in a Python dict and in serde_json's map);
//! - field values the full path accepts, checked by the full path's own functions
//!   (`event_kind`, `is_identifier`, `key_matches`, `timestamp_millis`, `timestamp_text`,
//!   `amount_cents`, `add_category`): anything they refuse, or a value of another type, gives up.
//!
//! The size limit, UTF-8, the byte order mark and the empty input are checked before either path
//! (`checked_text`), and `latest_ms` after both (`decode_event`).

use super::{
    add_category, amount_cents, event_kind, is_identifier, is_label, key_matches, timestamp_millis, timestamp_text,
    Event,
};
use serde_json::{Number, Value};

/// Deeper documents are left to the full path (real events are 3 levels deep with their items).
const MAX_NESTING: usize = 16;
/// Longer digit runs are left to the full path (no integer of the fast path exceeds `u64`).
const MAX_DIGITS: usize = 18;

/// A value as the fast path keeps it: only what the decoder can use, borrowed from the text.
#[derive(Debug, PartialEq)]
enum Val<'a> {
    Null,
    /// A string without escapes: its text is its value.
    Str(&'a str),
    /// A non-negative integer literal (digits only, at most `MAX_DIGITS`).
    UInt(&'a str),
    /// A non-negative literal with a fraction, `[0-9]+\.[0-9]+`.
    Decimal(&'a str),
    /// `items` as an array: the categories found in it (`add_category`'s rules).
    Items(Vec<&'a str>),
    /// Anything else valid: `true`, `false`, a negative number, an object, an array.
    Other,
}

/// The last value of each field the decoder reads.
#[derive(Default)]
struct Fields<'a> {
    kind: Option<Val<'a>>,
    customer_id: Option<Val<'a>>,
    event_id: Option<Val<'a>>,
    ts: Option<Val<'a>>,
    amount: Option<Val<'a>>,
    coupon: Option<Val<'a>>,
    channel: Option<Val<'a>>,
    items: Option<Val<'a>>,
}

/// The event in `text` (already through `checked_text`), or `None` when the full path must decide.
pub(super) fn decode(text: &str, key: Option<&[u8]>) -> Option<Event> {
    let fields = read(text)?;
    let kind = event_kind(string(fields.kind)?)?;
    if matches!(kind, "profile" | "custom") {
        return None; // their own fields are checked by the full path
    }
    let customer_id = identifier(fields.customer_id)?;
    if !key_matches(key, customer_id) {
        return None;
    }
    let event_id = identifier(fields.event_id)?;
    let ts = match fields.ts? {
        Val::UInt(digits) => timestamp_millis(digits.parse().ok()?).ok()?,
        Val::Str(text) => timestamp_text(text).ok()?,
        _ => return None,
    };
    let mut event = Event::new(event_id, kind, customer_id, ts);
    if kind == "order" {
        // The same serde_json `Number` the full path would hold, so `amount_cents` sees the same.
        let number = match fields.amount? {
            Val::UInt(digits) => Number::from(digits.parse::<u64>().ok()?),
            Val::Decimal(literal) => serde_json::from_str::<Number>(literal).ok()?,
            _ => return None,
        };
        event.amount_cents = amount_cents(Some(&Value::Number(number))).ok()?;
        event.coupon = optional_str(fields.coupon)?.is_some();
        let channel = optional_str(fields.channel)?;
        if !channel.is_none_or(is_label) {
            return None;
        }
        event.channel = channel.map(str::to_owned);
        event.categories = match fields.items {
            None | Some(Val::Null) => Vec::new(),
            Some(Val::Items(found)) if found.iter().all(|category| is_label(category)) => {
                found.into_iter().map(str::to_owned).collect()
            }
            Some(_) => return None,
        };
    }
    Some(event)
}

/// A required string field (null counts as missing).
fn string(value: Option<Val<'_>>) -> Option<&str> {
    match value? {
        Val::Str(text) => Some(text),
        _ => None,
    }
}

fn identifier(value: Option<Val<'_>>) -> Option<&str> {
    string(value).filter(|text| is_identifier(text))
}

/// `value or None` for an optional string; `None` (outer) for another type.
fn optional_str(value: Option<Val<'_>>) -> Option<Option<&str>> {
    match value {
        None | Some(Val::Null) => Some(None),
        Some(Val::Str(text)) => Some(Some(text).filter(|text| !text.is_empty())),
        Some(_) => None,
    }
}

/// Reads the whole text as one object of the subset, keeping the fields the decoder reads.
fn read(text: &str) -> Option<Fields<'_>> {
    let mut parser = Parser { text, at: 0 };
    let mut fields = Fields::default();
    parser.skip_ws();
    parser.expect(b'{')?;
    parser.members(|parser, key| {
        let slot = match key {
            "type" => &mut fields.kind,
            "customer_id" => &mut fields.customer_id,
            "event_id" => &mut fields.event_id,
            "ts" => &mut fields.ts,
            "amount" => &mut fields.amount,
            "coupon" => &mut fields.coupon,
            "channel" => &mut fields.channel,
            "items" => {
                fields.items = Some(parser.items()?);
                return Some(());
            }
            _ => {
                parser.value(2)?;
                return Some(());
            }
        };
        *slot = Some(parser.value(2)?);
        Some(())
    })?;
    parser.skip_ws();
    (parser.at == text.len()).then_some(fields)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// JSON's four whitespace bytes, the only ones serde_json and orjson skip.
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// The members of an object whose `{` is read, up to and with its `}`: `member` reads each
    /// value (the cursor is on it) given its key.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.skip_ws();
        if self.expect(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            member(self, key)?;
            if self.next_or_close(b'}')? {
                return Some(());
            }
        }
    }

    /// After a member or element: a `,` (false, the cursor on the next one) or `close` (true,
    /// read); anything else is not for the fast path.
    fn next_or_close(&mut self, close: u8) -> Option<bool> {
        self.skip_ws();
        let byte = self.peek()?;
        self.at += 1;
        if byte == close {
            return Some(true);
        }
        (byte == b',').then(|| self.skip_ws()).map(|()| false)
    }

    /// The elements of an array whose `[` is read, up to and with its `]`.
    fn elements(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.skip_ws();
        if self.expect(b']').is_some() {
            return Some(());
        }
        loop {
            element(self)?;
            if self.next_or_close(b']')? {
                return Some(());
            }
        }
    }

    /// A string without escapes or control characters, the cursor on its opening quote. The
    /// text is valid UTF-8 and both quotes are ASCII, so the slice between them is whole chars.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let len = self.text.as_bytes()[start..]
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
        self.at = start + len;
        self.expect(b'"')?;
        self.text.get(start..start + len)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, not followed by an exponent.
    fn number(&mut self) -> Option<Val<'a>> {
        let start = self.at;
        let negative = self.expect(b'-').is_some();
        let whole = self.digits()?;
        if whole > 1 && self.text.as_bytes()[self.at - whole] == b'0' {
            return None; // a leading zero: not JSON
        }
        let fraction = if self.expect(b'.').is_some() {
            Some(self.digits()?)
        } else {
            None
        };
        if matches!(self.peek(), Some(b'e' | b'E')) {
            return None;
        }
        let literal = &self.text[start..self.at];
        Some(match (negative, fraction) {
            (true, _) => Val::Other,
            (false, None) => Val::UInt(literal),
            (false, Some(_)) => Val::Decimal(literal),
        })
    }

    /// One to `MAX_DIGITS` ASCII digits: how many.
    fn digits(&mut self) -> Option<usize> {
        let count = self.text.as_bytes()[self.at..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        self.at += count;
        (1..=MAX_DIGITS).contains(&count).then_some(count)
    }

    fn literal(&mut self, word: &str, value: Val<'a>) -> Option<Val<'a>> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            value
        })
    }

    /// Any value of the subset at nesting `depth` (the top object is 1); containers are
    /// validated and skipped.
    fn value(&mut self, depth: usize) -> Option<Val<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Val::Str),
            b'-' | b'0'..=b'9' => self.number(),
            b'n' => self.literal("null", Val::Null),
            b't' => self.literal("true", Val::Other),
            b'f' => self.literal("false", Val::Other),
            b'{' if depth < MAX_NESTING => {
                self.at += 1;
                self.members(|parser, _| parser.value(depth + 1).map(drop))?;
                Some(Val::Other)
            }
            b'[' if depth < MAX_NESTING => {
                self.at += 1;
                self.elements(|parser| parser.value(depth + 1).map(drop))?;
                Some(Val::Other)
            }
            _ => None,
        }
    }

    /// The value of a top-level `items`: for an array, the categories of its object elements
    /// (an object's last `category` counts, as `dict.get` sees it).
    fn items(&mut self) -> Option<Val<'a>> {
        if self.expect(b'[').is_none() {
            return self.value(2);
        }
        let mut found = Vec::new();
        self.elements(|parser| {
            if parser.expect(b'{').is_none() {
                return parser.value(3).map(drop);
            }
            let mut category = None;
            parser.members(|parser, key| {
                let value = parser.value(4)?;
                if key == "category" {
                    category = Some(value);
                }
                Some(())
            })?;
            if let Some(Val::Str(category)) = category {
                add_category(&mut found, category);
            }
            Some(())
        })?;
        Some(Val::Items(found))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{checked_text, decode_event, decode_full};
    use super::*;

    /// Both paths on one record: whatever the fast path returns must be the full path's event.
    /// Returns whether the fast path took the record.
    fn agree(text: &str, key: Option<&[u8]>) -> bool {
        let Ok(checked) = checked_text(text.as_bytes()) else {
            return false; // decided before either path
        };
        let full = decode_full(checked, key);
        assert_eq!(decode_event(text.as_bytes(), key, None), full, "{text}");
        match decode(checked, key) {
            Some(event) => {
                assert_eq!(Ok(event), full, "{text}");
                true
            }
            None => false,
        }
    }

    const LOG_LINES: [&str; 4] = [
        r#"{"event_id":"o-c010957-1","type":"order","customer_id":"c010957","ts":"2025-01-01T00:03:03.670Z","amount":204.0,"currency":"EUR","items":[{"sku":"DR023","category":"dresses","qty":2,"price":102.0}],"channel":"web"}"#,
        r#"{"event_id":"v-c007613-1","type":"visit","customer_id":"c007613","ts":"2025-01-01T00:09:50.843Z","page":"/electronics","source":"web"}"#,
        r#"{"event_id":"o-c000003-1","type":"order","customer_id":"c000003","ts":"2025-01-01T12:19:28.132Z","amount":289.75,"currency":"EUR","items":[{"sku":"EL006","category":"electronics","qty":2,"price":21.99},{"sku":"SP005","category":"sports","qty":2,"price":11.9},{"sku":"BO037","category":"books","qty":3,"price":35.99},{"sku":"SH035","category":"shoes","qty":1,"price":114.0}],"channel":"store","coupon":"WELCOME10"}"#,
        r#"{"event_id":"e-1","type":"email_open","customer_id":"c1","ts":1735689600000,"campaign_id":"spring"}"#,
    ];

    #[test]
    fn takes_the_common_shapes() {
        for line in LOG_LINES {
            assert!(agree(line, None), "{line}");
            assert!(agree(line, Some(b"c010957")) == line.contains("\"c010957\""), "{line}");
        }
        let taken = [
            // whitespace, key order, repeated keys (the last counts), unknown keys of every kind
            " \t{ \"ts\" : 100000000000 ,\r\n\"type\":\"click\", \"customer_id\":\"c\",\"event_id\":\"e\" } \n",
            r#"{"type":"visit","type":"click","customer_id":"x","customer_id":"c","event_id":"e","ts":"bad","ts":100000000000}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":100000000000,"x":{"a":[1,-2.5,-0,true,false,null,{}]},"y":[[[]]]}"#,
            // unicode identifiers, printable and at the length limit in code points
            r#"{"type":"click","customer_id":"日本","event_id":"é","ts":100000000000}"#,
            &format!(
                r#"{{"type":"click","customer_id":"{}","event_id":"e","ts":100000000000}}"#,
                "é".repeat(128)
            ),
            // orders: int and float amounts, rounding half to even, empty coupon and channel as absent
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":0.125,"coupon":"","channel":""}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1000000000,"coupon":null}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1.005,"items":null}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":0,"items":[{"category":"a"},{"category":"b"},{"category":"a"},{"category":""},"x",{"category":1},null,[{"category":"z"}],{"category":"c","category":"d"},{"category":"e","category":null}]}"#,
            // a visit ignores the order fields, whatever they hold
            r#"{"type":"visit","customer_id":"c","event_id":"e","ts":100000000000,"amount":-1,"coupon":[],"items":"x"}"#,
            // ts forms the schema accepts
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":"2025-01-01t00:00:00z"}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":"1970-01-01T05:30:00.123456789+05:30"}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":253402300799999}"#,
        ];
        for text in taken {
            assert!(agree(text, None), "{text}");
        }
    }

    #[test]
    fn leaves_the_unusual_to_the_full_path() {
        let left = [
            r#"{"type":"click","customer_id":"c\u0041","event_id":"e","ts":100000000000}"#, // escapes
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":100000000000,"page":"a\/b"}"#,
            r#"{"typ\u0065":"click","customer_id":"c","event_id":"e","ts":100000000000}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1e2}"#, // exponents
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":100000000000,"x":1E-2}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":-0}"#, // -0
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":-0.0}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":-0}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":1234567890123456789}"#, // 19 digits
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":0.1234567890123456789}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":012}"#, // not JSON
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":100000000000,}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":100000000000} x"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":100000000000,"x":[1,]}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":100000000000,"x":nul}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":100000000000,"x":1.}"#,
            "{\"type\":\"click\",\"customer_id\":\"c\",\"event_id\":\"e\",\"ts\":100000000000,\"x\":\"\t\"}",
            "{\"type\":\"click\",\"customer_id\":\"c\",\"event_id\":\"e\",\"ts\":100000000000}\u{a0}",
            "\u{feff}{\"type\":\"click\",\"customer_id\":\"c\",\"event_id\":\"e\",\"ts\":100000000000}",
            // rejections, whatever their reason
            r#"{"type":"refund","customer_id":"c","event_id":"e","ts":100000000000}"#,
            r#"{"type":"click","customer_id":"","event_id":"e","ts":100000000000}"#,
            "{\"type\":\"click\",\"customer_id\":\"c\u{85}\",\"event_id\":\"e\",\"ts\":100000000000}",
            &format!(
                r#"{{"type":"click","customer_id":"{}","event_id":"e","ts":100000000000}}"#,
                "é".repeat(129)
            ),
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":99999999999}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":253402300800000}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":"2025-01-01T00:00:00"}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e","ts":100000000000.0}"#,
            r#"{"type":"click","customer_id":"c","event_id":"e"}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1000000000.5}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":"1"}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1,"coupon":1}"#,
            r#"{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1,"items":{}}"#,
            r#"[{"type":"click","customer_id":"c","event_id":"e","ts":100000000000}]"#,
            &format!(
                r#"{{"type":"click","customer_id":"c","event_id":"e","ts":100000000000,"x":{}1{}}}"#,
                "[".repeat(15),
                "]".repeat(15)
            ),
        ];
        for text in left {
            assert!(!agree(text, None), "{text}");
        }
        assert!(!agree(LOG_LINES[1], Some(b"c1")));
    }

    /// Values as raw JSON text, valid and not, for each field.
    const TYPES: &[&str] = &[
        r#""order""#,
        r#""visit""#,
        r#""click""#,
        r#""email_open""#,
        r#""refund""#,
        "null",
        "1",
        r#""""#,
    ];
    const IDS: &[&str] = &[
        r#""c1""#,
        r#""日本""#,
        r#""é""#,
        r#""a b""#,
        r#""'""#,
        r#""""#,
        "\"c\u{85}\"",
        "\"c\u{7f}\"",
        r#""c\u0031""#,
        "\"\t\"",
        "1",
        "null",
        r#""c\"""#,
    ];
    const TS: &[&str] = &[
        r#""2025-01-01T00:03:03.670Z""#,
        r#""2025-01-01t00:00:00z""#,
        r#""2025-01-01T00:00:00.0005+05:30""#,
        "100000000000",
        "1735689600000",
        "253402300799999",
        r#""2025-01-01T00:00:00""#,
        r#""bad""#,
        "99999999999",
        "253402300800000",
        "-0",
        "-5",
        "1e12",
        "1735689600000.0",
        "0",
        "18446744073709551615",
        "123456789012345678901",
        "null",
        "[]",
        "{}",
        "true",
        r#""1969-12-31T23:59:59.9995Z""#,
    ];
    const AMOUNTS: &[&str] = &[
        "204.0",
        "84.9",
        "0.125",
        "0.375",
        "1.005",
        "0",
        "-0",
        "-0.0",
        "1000000000",
        "1000000000.0",
        "1000000000.5",
        "1e2",
        "2E1",
        "12",
        "012",
        r#""12""#,
        "true",
        "null",
        "-1",
        "0.1",
        "99999999.995",
        "0.000000000000000001",
        "123456789.123456789",
        "1.0000000000000000001",
        "999999999999999999",
        "[]",
    ];
    const OPTIONAL: &[&str] = &[
        r#""""#,
        r#""SPRING""#,
        "null",
        r#""web""#,
        r#""é""#,
        "1",
        r#""a\"b""#,
        "[]",
        "true",
    ];
    const ITEMS: &[&str] = &[
        "[]",
        r#"[{"sku":"A","category":"dresses","qty":2,"price":102.0}]"#,
        r#"[{"category":"a"},{"category":"b"},{"category":"a"},{"category":""},"x",{"category":1},null,[{"category":"z"}]]"#,
        r#"[{"category":"a","category":"b"}]"#,
        r#"[{"category":"b","category":null},{"category":"b"}]"#,
        r#"{"category":"a"}"#,
        r#""x""#,
        "null",
        r#"[{"category":"a\u0062"}]"#,
        r#"[{"category":"é"},{"category":"e"}]"#,
        r#"[{"category":{"category":"x"}}]"#,
        r#"[{"cat\u0065gory":"a"}]"#,
        "[1,2,]",
        "1",
    ];
    const EXTRA_KEYS: &[&str] = &[
        r#""page""#,
        r#""currency""#,
        r#""Type""#,
        r#""""#,
        r#""type ""#,
        r#""日本""#,
        r#""item""#,
    ];
    const EXTRA_VALUES: &[&str] = &[
        r#""web""#,
        "1",
        "-1.5",
        "-0",
        "true",
        "false",
        "null",
        r#"{"a":[1,{"b":null}]}"#,
        "[[[]]]",
        r#""日本""#,
        "1e5",
        r#""a\nb""#,
        "-",
        "01",
        "1.5.2",
        "[",
        r#"{"a"}"#,
        r#"{"a":1,}"#,
        "nulll",
    ];
    const WHITESPACE: &[&str] = &[" ", "\n", "\t", "\r\n  "];

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
            from[self.below(from.len())]
        }
    }

    /// A generated record: each field absent, once or twice, unknown keys, any order, whitespace
    /// anywhere, and valid values far more often than not, so that both paths get exercised.
    fn generated(rng: &mut Rng) -> (String, Option<Vec<u8>>) {
        let valid = |rng: &mut Rng, all: &[&'static str], good: usize| -> &'static str {
            if rng.below(12) > 0 {
                all[rng.below(good)]
            } else {
                rng.pick(all)
            }
        };
        let mut members: Vec<(String, &str)> = Vec::new();
        let fields: [(&str, &[&str], usize); 8] = [
            ("type", TYPES, 4),
            ("customer_id", IDS, 5),
            ("event_id", IDS, 5),
            ("ts", TS, 6),
            ("amount", AMOUNTS, 10),
            ("coupon", OPTIONAL, 5),
            ("channel", OPTIONAL, 5),
            ("items", ITEMS, 5),
        ];
        let mut customer_id = None;
        for (name, values, good) in fields {
            let times = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 2][rng.below(12)];
            for _ in 0..times {
                let value = valid(rng, values, good);
                if name == "customer_id" {
                    customer_id = Some(value);
                }
                members.push((format!("\"{name}\""), value));
            }
        }
        for _ in 0..rng.below(4) {
            members.push((rng.pick(EXTRA_KEYS).to_owned(), valid(rng, EXTRA_VALUES, 10)));
        }
        for at in (1..members.len()).rev() {
            members.swap(at, rng.below(at + 1));
        }
        // JSON's whitespace, now and then; a no-break space (not JSON's) rarely.
        let ws = |rng: &mut Rng| match rng.below(1000) {
            0 => "\u{a0}",
            1..=300 => rng.pick(WHITESPACE),
            _ => "",
        };
        let mut text = format!("{}{{", ws(rng));
        for (at, (key, value)) in members.iter().enumerate() {
            if at > 0 {
                text.push(',');
            }
            text += &format!("{}{key}{}:{}{value}{}", ws(rng), ws(rng), ws(rng), ws(rng));
        }
        text += &format!("}}{}", ws(rng));
        let key = match rng.below(4) {
            0 => Some(b"c1".to_vec()),
            1 => customer_id.map(|id| id.trim_matches('"').as_bytes().to_vec()),
            _ => None,
        };
        (text, key)
    }

    #[test]
    fn fast_and_full_paths_agree_on_a_generated_corpus() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut taken, mut left) = (0, 0);
        for _ in 0..50_000 {
            let (text, key) = generated(&mut rng);
            if agree(&text, key.as_deref()) {
                taken += 1;
            } else {
                left += 1;
            }
        }
        // Both paths are exercised in earnest.
        assert!(taken > 10_000 && left > 10_000, "taken {taken}, left {left}");
    }
}
