//! JSON scalars written byte for byte as orjson 3.x writes them: compact, strings escaped only
//! where JSON requires it (`"`, `\`, control characters below U+0020) and everything else,
//! U+007F and non-ASCII included, as raw UTF-8.

/// A value a tag or a metric can take (`stream.rules.families.TagValue`, or None).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer in 2^63..2^64, which orjson still writes as a number.
    UInt(u64),
    Float(f64),
    Str(String),
}

impl Scalar {
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Scalar::Null => out.extend_from_slice(b"null"),
            Scalar::Bool(true) => out.extend_from_slice(b"true"),
            Scalar::Bool(false) => out.extend_from_slice(b"false"),
            Scalar::Int(value) => out.extend_from_slice(itoa::Buffer::new().format(*value).as_bytes()),
            Scalar::UInt(value) => out.extend_from_slice(itoa::Buffer::new().format(*value).as_bytes()),
            Scalar::Float(value) => write_f64(out, *value),
            Scalar::Str(text) => write_str(out, text),
        }
    }
}

/// A string literal. orjson's escapes: the two-character forms `\" \\ \b \t \n \f \r`, and
/// `\u00xx` (lowercase hex) for the other control characters.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    // Ids, names and rules almost never need an escape: one vectorizable test, one copy.
    if !bytes.iter().any(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            0x00..=0x1f => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..at]);
        start = at + 1;
        if short == 0 {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(short);
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A float: the shortest text that reads back as the same double, with orjson's layout — plain
/// decimals for exponents -5..=15 (`0.00001`, `100.0`, `-0.0`), otherwise `1.5e-7`, `1e+16`; NaN
/// and the infinities as `null`. zmij (serde_json's float writer) has exactly this layout.
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(value: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    fn string(text: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_as_orjson_writes_them() {
        // Each pair checked against orjson 3.13 `orjson.dumps(value)`.
        for (value, text) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (297.88, "297.88"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e-5, "0.00001"),
            (1e-4, "0.0001"),
            (1e-6, "1e-6"),
            (1.5e-7, "1.5e-7"),
            (1.2345e-8, "1.2345e-8"),
            (1e-20, "1e-20"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (1e22, "1e+22"),
            (12_345_678.9, "12345678.9"),
            (9_007_199_254_740_992.0, "9007199254740992.0"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
            (f64::NEG_INFINITY, "null"),
        ] {
            assert_eq!(float(value), text, "{value:e}");
        }
    }

    #[test]
    fn strings_escape_only_what_json_requires() {
        assert_eq!(string(""), r#""""#);
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            string("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}"),
            r#""\u0000\b\t\n\u000b\f\r\u001f""#
        );
        assert_eq!(string("\u{7f}é\u{2028}😀/"), "\"\u{7f}é\u{2028}😀/\"");
    }

    #[test]
    fn integers_and_constants() {
        let written = |scalar: Scalar| {
            let mut out = Vec::new();
            scalar.write(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(written(Scalar::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(written(Scalar::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(written(Scalar::Bool(true)), "true");
        assert_eq!(written(Scalar::Bool(false)), "false");
        assert_eq!(written(Scalar::Null), "null");
    }
}
