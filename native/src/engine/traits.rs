//! Customer traits (`[traits.<name>]` of a pack): what `profile` events say about a customer
//! (region, gender, birth date, consent, company size ...), read by rules as `trait.<name>`, and
//! `age_years`, computed from a `birth_date` trait at the instant a rule is evaluated.
//!
//! A profile's values are checked against the pack's declarations when the event is routed
//! (`updates`): a wrong type or a value outside a text trait's list dead-letters the event with
//! a message naming the trait, as a decoding error would. Traits the pack does not declare are
//! ignored, like any field no rule reads. A customer's birthday is a deadline like any other: age
//! changes at 00:00 UTC of the birthday (March 1 for February 29 in a common year).

use super::metrics::DAY_MS;
use super::plan::{Plan, TraitKind};
use super::state::{CustomerState, TraitUpdate};
use crate::jsonfmt::Scalar;
use crate::pyrepr::{str_repr, type_name};
use crate::timestamp::{anniversary_days, civil_from_days, date_days};
use serde_json::Value;

/// A trait's number is refused beyond this magnitude (`stream.rules.traits.MAX_TRAIT_NUMBER`).
pub const MAX_TRAIT_NUMBER: f64 = 1e12;

/// The pack's traits a profile event (`raw`, already decoded) sets or unsets, or why one of its
/// values is refused: (reason, message) as a dead letter carries them.
pub fn updates(plan: &Plan, raw: &[u8]) -> Result<Vec<TraitUpdate>, (&'static str, String)> {
    if plan.traits.is_empty() {
        return Ok(Vec::new());
    }
    let doc: Value = serde_json::from_slice(raw).map_err(|error| ("not_json", error.to_string()))?;
    let Some(Value::Object(given)) = doc.get("traits") else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for declared in &plan.traits {
        let Some(value) = given.get(&declared.name) else {
            continue;
        };
        let checked = match value {
            Value::Null => None,
            value => Some(checked(&declared.name, &declared.kind, value)?),
        };
        found.push((declared.name.as_str().into(), checked));
    }
    Ok(found)
}

fn checked(name: &str, kind: &TraitKind, value: &Value) -> Result<Scalar, (&'static str, String)> {
    let wrong_type = |expected: &str| {
        Err((
            "bad_type",
            format!(
                "trait {} must be {expected} or null, got {}",
                str_repr(name),
                type_name(value)
            ),
        ))
    };
    match (kind, value) {
        (TraitKind::Text(values), Value::String(text)) => {
            if values.iter().any(|known| known == text) {
                Ok(Scalar::Str(text.clone()))
            } else {
                let shown: String = text.chars().take(64).collect();
                let allowed: Vec<String> = values.iter().map(|known| str_repr(known)).collect();
                Err((
                    "bad_value",
                    format!(
                        "trait {} must be one of {}, got {}",
                        str_repr(name),
                        allowed.join(", "),
                        str_repr(&shown)
                    ),
                ))
            }
        }
        (TraitKind::Text(_), _) => wrong_type("a string"),
        (TraitKind::Bool, Value::Bool(flag)) => Ok(Scalar::Bool(*flag)),
        (TraitKind::Bool, _) => wrong_type("true or false"),
        (TraitKind::Number, Value::Number(number)) => {
            let as_float = number.as_f64().unwrap_or(f64::INFINITY);
            if as_float.abs() > MAX_TRAIT_NUMBER {
                return Err((
                    "bad_value",
                    format!("trait {} must be within ±1e12, got {number}", str_repr(name)),
                ));
            }
            Ok(number.as_i64().map_or(Scalar::Float(as_float), Scalar::Int))
        }
        (TraitKind::Number, _) => wrong_type("a number"),
        (TraitKind::Date, Value::String(text)) => match date_days(text) {
            Some(_) => Ok(Scalar::Str(text.clone())),
            None => {
                let shown: String = text.chars().take(64).collect();
                Err((
                    "bad_value",
                    format!(
                        "trait {} must be a date YYYY-MM-DD, got {}",
                        str_repr(name),
                        str_repr(&shown)
                    ),
                ))
            }
        },
        (TraitKind::Date, _) => wrong_type("a date YYYY-MM-DD"),
    }
}

/// Fold a profile event's updates into the customer's traits (kept sorted by name).
pub fn apply(state: &mut CustomerState, updates: &[TraitUpdate]) {
    for (name, value) in updates {
        let at = state.traits.binary_search_by(|(known, _)| known.as_ref().cmp(name));
        match (at, value) {
            (Ok(at), Some(value)) => state.traits[at].1 = value.clone(),
            (Err(at), Some(value)) => state.traits.insert(at, (name.clone(), value.clone())),
            (Ok(at), None) => {
                state.traits.remove(at);
            }
            (Err(_), None) => {}
        }
    }
}

/// The customer's trait `name`, if set.
pub fn get<'a>(state: &'a CustomerState, name: &str) -> Option<&'a Scalar> {
    let at = state
        .traits
        .binary_search_by(|(known, _)| known.as_ref().cmp(name))
        .ok()?;
    Some(&state.traits[at].1)
}

/// The birth date's day number, when the pack reads `age_years` and the customer has one.
fn birth_day(plan: &Plan, state: &CustomerState) -> Option<(usize, i64)> {
    let (metric, trait_name) = plan.age.as_ref()?;
    match get(state, trait_name)? {
        Scalar::Str(text) => Some((*metric, date_days(text)?)),
        _ => None,
    }
}

/// Full years from the day `born` to the day of `now` (None before the birth).
fn age_years(born: i64, now: i64) -> Option<i64> {
    let (year, month, day) = civil_from_days(born);
    let today = now.div_euclid(DAY_MS);
    let (this_year, ..) = civil_from_days(today);
    let mut age = this_year - year;
    if today < anniversary_days(this_year, month, day) {
        age -= 1;
    }
    (today >= born).then_some(age)
}

/// Trait reads and `age_years` at `now`: unset traits (and an age without a birth date) are null.
pub fn compute(plan: &Plan, state: &CustomerState, now: i64, metrics: &mut [Scalar]) {
    for (metric, name) in &plan.trait_metrics {
        metrics[*metric] = get(state, name).cloned().unwrap_or(Scalar::Null);
    }
    if let Some((metric, _)) = &plan.age {
        metrics[*metric] = birth_day(plan, state)
            .and_then(|(_, born)| age_years(born, now))
            .map_or(Scalar::Null, Scalar::Int);
    }
}

/// The next birthday after `now`, 00:00 UTC (the customer's age changes then).
pub fn next_birthday(plan: &Plan, state: &CustomerState, now: i64) -> Option<i64> {
    let (_, born) = birth_day(plan, state)?;
    let (_, month, day) = civil_from_days(born);
    let (this_year, ..) = civil_from_days(now.div_euclid(DAY_MS));
    let first = born.saturating_mul(DAY_MS);
    (this_year..=this_year + 1)
        .map(|year| anniversary_days(year, month, day).saturating_mul(DAY_MS))
        .find(|at| *at > now && *at > first)
}

/// `age_years`, when `at` is the customer's birthday (a deadline just reached).
pub fn changing_at(plan: &Plan, state: &CustomerState, at: i64, names: &mut Vec<usize>) {
    if at.rem_euclid(DAY_MS) != 0 {
        return;
    }
    if let Some((metric, born)) = birth_day(plan, state) {
        let (_, month, day) = civil_from_days(born);
        let today = at.div_euclid(DAY_MS);
        let (year, ..) = civil_from_days(today);
        if today > born && anniversary_days(year, month, day) == today {
            names.push(metric);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> i64 {
        date_days(text).unwrap()
    }

    #[test]
    fn age_counts_full_years_and_turns_on_the_birthday() {
        let born = day("1990-06-15");
        assert_eq!(age_years(born, day("2020-06-14") * DAY_MS + DAY_MS - 1), Some(29));
        assert_eq!(age_years(born, day("2020-06-15") * DAY_MS), Some(30));
        assert_eq!(age_years(born, day("1990-06-14") * DAY_MS), None);
    }

    #[test]
    fn a_leap_day_birthday_falls_on_march_first_in_common_years() {
        let born = day("2000-02-29");
        assert_eq!(age_years(born, day("2001-02-28") * DAY_MS), Some(0));
        assert_eq!(age_years(born, day("2001-03-01") * DAY_MS), Some(1));
        assert_eq!(age_years(born, day("2004-02-29") * DAY_MS), Some(4));
    }

    #[test]
    fn dates_are_checked() {
        assert_eq!(date_days("1970-01-02"), Some(1));
        for bad in [
            "2001-02-29",
            "2001-13-01",
            "2001-1-01",
            "0000-01-01",
            "2001-01-01T00:00",
        ] {
            assert_eq!(date_days(bad), None, "{bad}");
        }
    }
}
