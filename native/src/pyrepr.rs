//! Python's `repr()` of the values a rejection message quotes, character for character, so that a
//! dead letter says the same thing whichever decoder wrote it.

use crate::printable_table::NON_PRINTABLE;
use serde_json::Value;
use std::fmt::Write;

/// `str.isprintable()` for one character, from the table generated out of Python's Unicode data.
pub fn is_printable(c: char) -> bool {
    let code = u32::from(c);
    NON_PRINTABLE
        .binary_search_by(|&(low, high)| {
            if high < code {
                std::cmp::Ordering::Less
            } else if low > code {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_err()
}

/// Python picks `'` unless the text has a `'` and no `"`.
fn quote_for(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double {
        '"'
    } else {
        '\''
    }
}

/// `repr(text)`.
pub fn str_repr(text: &str) -> String {
    let quote = quote_for(text.contains('\''), text.contains('"'));
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c if u32::from(c) <= 0xff => write!(out, "\\x{:02x}", u32::from(c)).expect("writing to a String"),
            c if u32::from(c) <= 0xffff => write!(out, "\\u{:04x}", u32::from(c)).expect("writing to a String"),
            c => write!(out, "\\U{:08x}", u32::from(c)).expect("writing to a String"),
        }
    }
    out.push(quote);
    out
}

/// `repr(data)` of a `bytes` object.
pub fn bytes_repr(data: &[u8]) -> String {
    let quote = quote_for(data.contains(&b'\''), data.contains(&b'"'));
    let mut out = String::with_capacity(data.len() + 3);
    out.push('b');
    out.push(quote);
    for &byte in data {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b if char::from(b) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => write!(out, "\\x{byte:02x}").expect("writing to a String"),
        }
    }
    out.push(quote);
    out
}

/// `repr(value)` of a finite float: the shortest digits that round-trip, in fixed notation when
/// the decimal exponent is in -4..16 and as `d.ddde±XX` otherwise.
pub fn float_repr(value: f64) -> String {
    let (negative, digits, point) = shortest_digits(value);
    let sign = if negative { "-" } else { "" };
    if (-3..=16).contains(&point) {
        format!("{sign}{}", fixed(&digits, point))
    } else {
        let (first, more) = digits.split_at(1);
        let mantissa = if more.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{more}")
        };
        let exponent = point - 1;
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

/// (is negative, shortest round-trip significant digits, decimal point position) where the value
/// is `0.DIGITS × 10^point`; zero is ("0", 1).
pub fn shortest_digits(value: f64) -> (bool, String, i32) {
    // `{:e}` prints the shortest round-trip form, e.g. `-1.5e-7` or `0e0`.
    let text = format!("{:e}", value.abs());
    let (mantissa, exponent) = text.split_once('e').expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    (value.is_sign_negative(), mantissa.replace('.', ""), exponent + 1)
}

/// Digits with the point placed at `point`, and at least one digit on each side of it.
fn fixed(digits: &str, point: i32) -> String {
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if (point as usize) < digits.len() {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    } else {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    }
}

/// The name of the Python type orjson gives this JSON value (`type(value).__name__`).
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `repr()` of the Python object orjson makes of this JSON value.
pub fn value_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match n.as_f64() {
            Some(float) if n.is_f64() => float_repr(float),
            _ => n.to_string(),
        },
        Value::String(text) => str_repr(text),
        Value::Array(items) => format!("[{}]", items.iter().map(value_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("{}: {}", str_repr(k), value_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (297.88, "297.88"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5e300, "-2.5e+300"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (1234.5, "1234.5"),
            (1e22, "1e+22"),
        ];
        for (value, text) in cases {
            assert_eq!(float_repr(value), text, "{value:e}");
        }
    }

    #[test]
    fn strings_print_like_python() {
        assert_eq!(str_repr("abc"), "'abc'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("'\""), "'\\'\"'");
        assert_eq!(
            str_repr("a\\b\t\n\r\u{0}\u{7f}\u{a0}é\u{200b}\u{10ffff}😀"),
            "'a\\\\b\\t\\n\\r\\x00\\x7f\\xa0é\\u200b\\U0010ffff😀'"
        );
        assert_eq!(bytes_repr(b"c42\x00\xff'"), "b\"c42\\x00\\xff'\"");
        assert_eq!(bytes_repr(b"a'\"\\"), "b'a\\'\"\\\\'");
    }
}
