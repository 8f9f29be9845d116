//! Event time as text: parsing RFC 3339 instants and writing them back (`stream/timeutil.py`).
//!
//! The accepted text is the `ts` pattern of `schemas/json/order.schema.json`,
//! `YYYY-MM-DD(T|t)HH:MM:SS(.fraction)?(Z|z|±HH:MM)`, with the calendar checks Python's
//! `datetime` makes (year 1..9999, real days, hour ≤ 23, minute and second ≤ 59, no leap second,
//! offsets below 24 h). `schemas/events.py` reads exactly the same texts (docs/native.md).

pub const DAY_MS: i64 = 86_400_000;

/// The outcome of reading a `ts` string.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Epoch milliseconds, computed exactly as `round(datetime.timestamp() * 1000)` does.
    Instant(i64),
    /// A valid date and time without a UTC offset.
    Naive,
    /// Not an RFC 3339 date-time.
    Invalid,
}

/// Parse an RFC 3339 date-time.
pub fn parse_rfc3339(text: &str) -> Parsed {
    let b = text.as_bytes();
    let Some(fields) = date_time(b) else {
        return Parsed::Invalid;
    };
    let (micros_in_local, rest) = fields;
    match rest {
        [] => Parsed::Naive,
        [b'Z' | b'z'] => Parsed::Instant(millis_like_python(micros_in_local)),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (Some(hours), Some(minutes)) = (two_digits(*h1, *h2), two_digits(*m1, *m2)) else {
                return Parsed::Invalid;
            };
            if hours > 23 || minutes > 59 {
                return Parsed::Invalid;
            }
            let offset_us = i64::from(hours * 3600 + minutes * 60) * 1_000_000;
            let utc = if *sign == b'+' {
                micros_in_local - offset_us
            } else {
                micros_in_local + offset_us
            };
            Parsed::Instant(millis_like_python(utc))
        }
        _ => Parsed::Invalid,
    }
}

/// `YYYY-MM-DD(T|t)HH:MM:SS(.d+)?` -> (local microseconds since the epoch, the bytes after it).
fn date_time(b: &[u8]) -> Option<(i64, &[u8])> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = i64::from(two_digits(b[0], b[1])?) * 100 + i64::from(two_digits(b[2], b[3])?);
    let month = two_digits(b[5], b[6])?;
    let day = two_digits(b[8], b[9])?;
    let (hour, minute, second) = (
        two_digits(b[11], b[12])?,
        two_digits(b[14], b[15])?,
        two_digits(b[17], b[18])?,
    );
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0;
    if let [b'.', tail @ ..] = rest {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // Python keeps six digits and drops the rest (it truncates, it does not round).
        micros = tail[..digits.min(6)]
            .iter()
            .fold(0, |acc, c| acc * 10 + i64::from(c - b'0'));
        micros *= 10_i64.pow(6 - digits.min(6) as u32);
        rest = &tail[digits..];
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some((seconds * 1_000_000 + micros, rest))
}

/// `round(timestamp() * 1000)` where `timestamp()` is the float nearest to microseconds / 10^6, as
/// Python computes it: the float product and the half-to-even rounding are part of the contract,
/// since they decide the millisecond of an instant given in microseconds.
fn millis_like_python(micros: i64) -> i64 {
    (seconds_like_python(micros) * 1000.0).round_ties_even() as i64
}

/// The float nearest to `micros / 10^6`. Up to 2^53 in magnitude both `micros` and 10^6 are exact
/// doubles and IEEE division is correctly rounded, so one division gives that float (every instant
/// of the years 1685-2255); beyond, the exact decimal text is parsed.
fn seconds_like_python(micros: i64) -> f64 {
    const EXACT: u64 = 1 << 53;
    if micros.unsigned_abs() <= EXACT {
        return micros as f64 / 1e6;
    }
    seconds_from_decimal(micros)
}

/// The float nearest to `micros / 10^6`, through its exact decimal text.
fn seconds_from_decimal(micros: i64) -> f64 {
    let sign = if micros < 0 { "-" } else { "" };
    let magnitude = micros.unsigned_abs();
    // Rust's decimal parser is correctly rounded, like Python's int / int division.
    format!("{sign}{}.{:06}", magnitude / 1_000_000, magnitude % 1_000_000)
        .parse()
        .expect("a decimal literal always parses")
}

fn two_digits(high: u8, low: u8) -> Option<u32> {
    (high.is_ascii_digit() && low.is_ascii_digit()).then(|| u32::from(high - b'0') * 10 + u32::from(low - b'0'))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The day number of a calendar date written `YYYY-MM-DD` (years 0001-9999), if it is one.
pub fn date_days(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year = i64::from(two_digits(b[0], b[1])? * 100 + two_digits(b[2], b[3])?);
    let (month, day) = (two_digits(b[5], b[6])?, two_digits(b[8], b[9])?);
    let valid = year >= 1 && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
    valid.then(|| days_from_civil(year, month, day))
}

/// The day number of `month`/`day` in `year`, a February 29 falling on March 1 in a common year.
pub fn anniversary_days(year: i64, month: i64, day: i64) -> i64 {
    let month = month as u32;
    let day = day as u32;
    if day > days_in_month(year, month) {
        days_from_civil(year, month + 1, 1)
    } else {
        days_from_civil(year, month, day)
    }
}

/// (year, month, day) of a day number since 1970-01-01 (Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// (year, month, day, hour, minute, second, millisecond) of an instant, UTC.
fn civil_parts(ts: i64) -> [i64; 7] {
    let (day, in_day) = (ts.div_euclid(DAY_MS), ts.rem_euclid(DAY_MS));
    let (year, month, day_of_month) = civil_from_days(day);
    let (seconds, millis) = (in_day / 1000, in_day % 1000);
    [
        year,
        month,
        day_of_month,
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        millis,
    ]
}

/// `stream.timeutil.format_ts`: RFC 3339 with milliseconds and a `Z`.
pub fn format_ts(ts: i64) -> String {
    let mut buffer = [0u8; 24];
    match write_ts(&mut buffer, ts) {
        Some(text) => String::from_utf8_lossy(text).into_owned(),
        None => {
            let [year, month, day, hour, minute, second, millis] = civil_parts(ts);
            format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
        }
    }
}

/// `format_ts` into a stack buffer, no allocation: the engine writes two per tag change. Years
/// 0–9999 take 24 bytes; None for others.
pub fn write_ts(buffer: &mut [u8; 24], ts: i64) -> Option<&[u8]> {
    let parts = civil_parts(ts);
    if !(0..=9999).contains(&parts[0]) {
        return None;
    }
    // Each part's digits, then the separator after it ("2025-03-01T12:00:00.123Z").
    let layout: [(usize, u8); 7] = [
        (4, b'-'),
        (2, b'-'),
        (2, b'T'),
        (2, b':'),
        (2, b':'),
        (2, b'.'),
        (3, b'Z'),
    ];
    let mut at = 0;
    for (mut value, (width, separator)) in parts.into_iter().zip(layout) {
        for slot in buffer[at..at + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        buffer[at + width] = separator;
        at += width + 1;
    }
    Some(&buffer[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_division_is_the_float_of_the_decimal_text() {
        const EXACT: i64 = 1 << 53;
        let mut samples: Vec<i64> = vec![0, 1, -1, 500, -500, 1_500, 999_999, EXACT, -EXACT, EXACT - 1, 1 - EXACT];
        // Whole and half milliseconds (the rounding ties) around the epoch, 2025 and the bound.
        for base in [0, 1_735_689_600_000_000, EXACT - 10_000_000, 10_000_000 - EXACT] {
            samples.extend((-20_000..20_000).map(|step| base + step * 500));
            samples.extend((-20_000..20_000).map(|step| base + step));
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..500_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let micros = (state % (2 * EXACT as u64 + 1)) as i64 - EXACT;
            samples.extend([micros, micros / 1000 * 1000 + 500]);
        }
        for micros in samples {
            assert_eq!(
                seconds_like_python(micros).to_bits(),
                seconds_from_decimal(micros).to_bits(),
                "{micros}"
            );
        }
    }

    #[test]
    fn accepts_the_schema_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Parsed::Instant(0));
        assert_eq!(
            parse_rfc3339("2025-03-01T12:00:00Z"),
            Parsed::Instant(1_740_830_400_000)
        );
        assert_eq!(
            parse_rfc3339("2025-03-01t12:00:00z"),
            Parsed::Instant(1_740_830_400_000)
        );
        assert_eq!(
            parse_rfc3339("2025-03-01T13:30:00+01:30"),
            Parsed::Instant(1_740_830_400_000)
        );
        assert_eq!(
            parse_rfc3339("2025-03-01T10:00:00-02:00"),
            Parsed::Instant(1_740_830_400_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00.5Z"),
            Parsed::Instant(1_709_164_800_500)
        );
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59.999Z"),
            Parsed::Instant(253_402_300_799_999)
        );
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z"),
            Parsed::Instant(-62_135_596_800_000)
        );
    }

    #[test]
    fn fractions_truncate_to_microseconds_then_round_half_even_like_python() {
        // Python: round(datetime.fromisoformat(s).timestamp() * 1000)
        assert_eq!(
            parse_rfc3339("2025-01-01T00:00:00.0004999999Z"),
            Parsed::Instant(1_735_689_600_000)
        );
        assert_eq!(
            parse_rfc3339("2025-01-01T00:00:00.0005Z"),
            Parsed::Instant(1_735_689_600_000)
        );
        assert_eq!(
            parse_rfc3339("2025-01-01T00:00:00.0015Z"),
            Parsed::Instant(1_735_689_600_002)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.0005Z"), Parsed::Instant(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.0015Z"), Parsed::Instant(2));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999999Z"), Parsed::Instant(0));
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59.9999999Z"),
            Parsed::Instant(253_402_300_800_000)
        );
    }

    #[test]
    fn tells_naive_from_invalid() {
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00"), Parsed::Naive);
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00.123"), Parsed::Naive);
        for text in [
            "",
            "2025-01-01",
            "2025-01-01 00:00:00Z",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00Z",
            "20250101T000000Z",
            "2025-W01-1T00:00:00Z",
            "2025-01-01T00:00:00+0100",
            "2025-01-01T00:00:00+01",
            "2025-01-01T00:00:00+01:00:30",
            "2025-01-01T00:00:00+00:60",
            "2025-01-01T00:00:00+24:00",
            "2025-01-01T00:00:60Z",
            "2025-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-01-00T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "0000-01-01T00:00:00Z",
            "2025-01-01T00:00:00,5Z",
            "2025-01-01T00:00:00 Z",
            "2025-01-01T00:00:00+01:00Z",
            "+2025-01-01T00:00:00Z",
            "٢٠٢٥-01-01T00:00:00Z",
            "2025-01-01T00:00:00ZZ",
        ] {
            assert_eq!(parse_rfc3339(text), Parsed::Invalid, "{text}");
        }
    }

    #[test]
    fn formats_like_timeutil() {
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ts(1_740_830_400_123), "2025-03-01T12:00:00.123Z");
        assert_eq!(format_ts(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_ts(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_ts(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn civil_days_round_trip() {
        for day in (-800_000..3_000_000).step_by(997) {
            let (year, month, dom) = civil_from_days(day);
            assert_eq!(days_from_civil(year, month as u32, dom as u32), day);
        }
    }
}
