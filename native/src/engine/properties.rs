//! Property metrics (`[metrics.<name>]` of a pack, `stream.metrics.PropertyMetric`): what one
//! event type's properties add up to per customer, in a window of days or over the whole history.
//!
//! An event's contribution depends on the event alone, so it is worked out once, when the event
//! is routed (`feeds`): which metrics its properties pass the filter of, and with what (1 for a
//! count, hundredths for a sum, the text for `distinct` and `top`). The buffered event carries only
//! that; its raw properties are not kept. Applied, contributions land in per-day entries of the
//! customer's state, which windows sum and which leave a window at a day's edge, like the order
//! and activity buckets.

use super::metrics::DAY_MS;
use super::plan::{Aggregate, Plan, PropertyMetric};
use super::state::{CustomerState, Feed, PropEntry};
use crate::jsonfmt::Scalar;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// A property's text is cut to this many characters (`stream.metrics.MAX_PROPERTY_CHARS`).
pub const MAX_PROPERTY_CHARS: usize = 256;
/// A number beyond this magnitude is not summed (`stream.metrics.MAX_PROPERTY_NUMBER`).
pub const MAX_PROPERTY_NUMBER: f64 = 1e12;
/// Per customer and `distinct`/`top` metric, at most this many (day, text) entries
/// (`stream.metrics.MAX_PROPERTY_KEYS`).
pub const MAX_PROPERTY_KEYS: usize = 64;

/// The properties `plan` reads from one event's JSON: a top-level field, else one of its
/// `properties` object; text (cut to `MAX_PROPERTY_CHARS`), numbers and booleans, Null otherwise.
///
/// The event was decoded already; this second pass keeps only the wanted fields and skips the
/// rest without building it (a `serde_json::Map` of the whole event halved the engine's speed).
fn extract(plan: &Plan, raw: &[u8]) -> Vec<Scalar> {
    let mut found = Found {
        top: vec![None; plan.properties.len()],
        nested: vec![None; plan.properties.len()],
    };
    let mut reader = serde_json::Deserializer::from_slice(raw);
    let read = reader.deserialize_map(Fields {
        names: &plan.properties,
        found: &mut found,
        nested: false,
    });
    if read.is_err() {
        return vec![Scalar::Null; plan.properties.len()];
    }
    found
        .top
        .into_iter()
        .zip(found.nested)
        .map(|(top, nested)| top.or(nested).unwrap_or(Scalar::Null))
        .collect()
}

/// Per wanted name, its value at the top level and in `properties` (the top level wins).
struct Found {
    top: Vec<Option<Scalar>>,
    nested: Vec<Option<Scalar>>,
}

/// Visits one JSON object: wanted names kept, `properties` entered once, all else skipped.
struct Fields<'a> {
    names: &'a [String],
    found: &'a mut Found,
    nested: bool,
}

/// What a key is to `Fields`.
enum Key {
    Wanted(usize),
    Properties,
    Other,
}

struct KeySeed<'a> {
    names: &'a [String],
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match self.names.iter().position(|name| name == key) {
            Some(index) => Key::Wanted(index),
            None if key == "properties" && !self.nested => Key::Properties,
            None => Key::Other,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Fields<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Fields<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let seed = || KeySeed {
            names: self.names,
            nested: self.nested,
        };
        while let Some(key) = map.next_key_seed(seed())? {
            match key {
                Key::Wanted(index) => {
                    let value = property_value(&map.next_value::<Value>()?);
                    let slot = if self.nested {
                        &mut self.found.nested[index]
                    } else {
                        &mut self.found.top[index]
                    };
                    *slot = Some(value); // a repeated key: its last value counts, as in decoding
                }
                Key::Properties => {
                    // a repeated `properties`: the last one counts, whole
                    self.found.nested.iter_mut().for_each(|slot| *slot = None);
                    map.next_value_seed(Fields {
                        names: self.names,
                        found: &mut *self.found,
                        nested: true,
                    })?;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    /// `properties` that is not an object holds no properties.
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

fn property_value(value: &Value) -> Scalar {
    match value {
        Value::String(text) => Scalar::Str(match text.char_indices().nth(MAX_PROPERTY_CHARS) {
            Some((cut, _)) => text[..cut].to_owned(),
            None => text.clone(),
        }),
        Value::Bool(flag) => Scalar::Bool(*flag),
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(whole), _) => Scalar::Int(whole),
            (None, Some(whole)) => Scalar::UInt(whole),
            _ => Scalar::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        _ => Scalar::Null,
    }
}

/// What an event of type `kind` contributes to the plan's property metrics (`raw`: its JSON).
pub fn feeds(plan: &Plan, kind: usize, raw: &[u8]) -> Vec<Feed> {
    if !plan.property_metrics.iter().any(|metric| metric.event_type == kind) {
        return Vec::new();
    }
    let properties = extract(plan, raw);
    plan.property_metrics
        .iter()
        .enumerate()
        .filter(|(_, metric)| metric.event_type == kind)
        .filter(|(_, metric)| metric.filter.as_ref().is_none_or(|filter| filter.holds(&properties)))
        .filter_map(|(index, metric)| feed(metric, &properties).map(|(key, amount)| (index as u16, key, amount)))
        .map(|(metric, key, amount)| Feed { metric, key, amount })
        .collect()
}

/// One metric's contribution: (text for distinct/top, amount); None when the property it reads
/// is missing or of the wrong type.
fn feed(metric: &PropertyMetric, properties: &[Scalar]) -> Option<(Option<Box<str>>, i64)> {
    let read = metric.property.map(|index| &properties[index]);
    match (metric.aggregate, read) {
        (Aggregate::Count, _) => Some((None, 1)),
        (Aggregate::Sum, Some(value)) => hundredths(value).map(|amount| (None, amount)),
        (Aggregate::Distinct | Aggregate::Top, Some(Scalar::Str(text))) => Some((Some(text.as_str().into()), 1)),
        _ => None,
    }
}

/// A number as whole hundredths, rounded half to even as Python's `round(x * 100)`; None for
/// anything else (a boolean is not an amount) or beyond `MAX_PROPERTY_NUMBER`.
fn hundredths(value: &Scalar) -> Option<i64> {
    let number = match value {
        Scalar::Int(whole) => *whole as f64,
        Scalar::UInt(whole) => *whole as f64,
        Scalar::Float(number) => *number,
        _ => return None,
    };
    if number.is_nan() || number.abs() > MAX_PROPERTY_NUMBER {
        return None;
    }
    Some(match value {
        Scalar::Int(whole) => whole * 100,
        _ => (number * 100.0).round_ties_even() as i64,
    })
}

/// The day an entry of `metric` for an event on `day` is kept under: lifetime metrics keep one.
fn entry_day(metric: &PropertyMetric, day: i64) -> i64 {
    if metric.days.is_some() {
        day
    } else {
        0
    }
}

/// Is `day` still inside `metric`'s window at `today`?
fn in_window(metric: &PropertyMetric, day: i64, today: i64) -> bool {
    metric.days.is_none_or(|days| today - day < days)
}

/// Fold an event's contributions (on event-time `day`) into the customer's entries; entries that
/// have left their window by the customer's clock go first.
pub fn apply(plan: &Plan, state: &mut CustomerState, feeds: &[Feed], day: i64) {
    let today = state
        .clock
        .map(|clock| clock.div_euclid(DAY_MS))
        .unwrap_or(day)
        .max(day);
    for Feed { metric, key, amount } in feeds {
        let definition = &plan.property_metrics[usize::from(*metric)];
        if !in_window(definition, day, today) {
            continue;
        }
        if definition.days.is_some() {
            // entries past the window go before one is added (the whole history keeps all)
            state
                .props
                .retain(|entry| entry.metric != *metric || in_window(definition, entry.day, today));
        }
        let day = entry_day(definition, day);
        let position = state
            .props
            .iter()
            .position(|entry| (entry.metric, entry.day, entry.key.as_deref()) >= (*metric, day, key.as_deref()));
        let at = position.unwrap_or(state.props.len());
        match state.props.get_mut(at) {
            Some(entry) if entry.metric == *metric && entry.day == day && entry.key == *key => {
                entry.value = entry.value.saturating_add(*amount);
            }
            _ => {
                let keyed = state.props.iter().filter(|entry| entry.metric == *metric).count();
                if key.is_some() && keyed >= MAX_PROPERTY_KEYS {
                    continue; // bounded: counted again once old entries leave the window
                }
                state.props.insert(
                    at,
                    PropEntry {
                        metric: *metric,
                        day,
                        key: key.clone(),
                        value: *amount,
                    },
                );
            }
        }
    }
}

/// Every property metric's value at `today` into `metrics`.
pub fn compute(plan: &Plan, state: &CustomerState, today: i64, metrics: &mut [Scalar]) {
    for (index, definition) in plan.property_metrics.iter().enumerate() {
        let entries = state
            .props
            .iter()
            .filter(|entry| usize::from(entry.metric) == index && in_window(definition, entry.day, today));
        metrics[definition.metric] = match definition.aggregate {
            Aggregate::Count => Scalar::Int(entries.map(|entry| entry.value).sum()),
            Aggregate::Sum => Scalar::Float(entries.map(|entry| entry.value).sum::<i64>() as f64 / 100.0),
            Aggregate::Distinct | Aggregate::Top => keyed(definition.aggregate, entries),
        };
    }
}

/// `distinct`: how many texts; `top`: the most frequent (ties to the alphabetically first).
fn keyed<'a>(aggregate: Aggregate, entries: impl Iterator<Item = &'a PropEntry>) -> Scalar {
    let mut totals: Vec<(&str, i64)> = Vec::new();
    for entry in entries {
        let key = entry.key.as_deref().unwrap_or_default();
        match totals.iter_mut().find(|(known, _)| *known == key) {
            Some(total) => total.1 += entry.value,
            None => totals.push((key, entry.value)),
        }
    }
    if aggregate == Aggregate::Distinct {
        return Scalar::Int(totals.len() as i64);
    }
    let best = totals.into_iter().reduce(|best, next| {
        if next.1 > best.1 || (next.1 == best.1 && next.0 < best.0) {
            next
        } else {
            best
        }
    });
    best.map_or(Scalar::Null, |(key, _)| Scalar::Str(key.to_owned()))
}

/// The first UTC midnight after `today` at which an entry leaves the window of a metric some rule
/// reads.
pub fn next_edge(plan: &Plan, state: &CustomerState, today: i64) -> Option<i64> {
    state
        .props
        .iter()
        .filter_map(|entry| {
            let definition = &plan.property_metrics[usize::from(entry.metric)];
            let days = definition.days.filter(|_| definition.deadlines)?;
            Some(entry.day.saturating_add(days)).filter(|edge| *edge > today)
        })
        .min()
        .map(|day| day.saturating_mul(DAY_MS))
}

/// Ids of the property metrics some rule reads that change at `at` (an entry leaves its window).
pub fn changing_at(plan: &Plan, state: &CustomerState, at: i64, names: &mut Vec<usize>) {
    if at.rem_euclid(DAY_MS) != 0 {
        return;
    }
    let day = at.div_euclid(DAY_MS);
    for (index, definition) in plan.property_metrics.iter().enumerate() {
        let leaving = |days: i64| {
            state
                .props
                .iter()
                .any(|entry| usize::from(entry.metric) == index && entry.day.saturating_add(days) == day)
        };
        if definition.deadlines && definition.days.is_some_and(leaving) {
            names.push(definition.metric);
        }
    }
}

/// Drop the entries that have left their window at `today`.
pub fn prune(plan: &Plan, state: &mut CustomerState, today: i64) {
    state
        .props
        .retain(|entry| in_window(&plan.property_metrics[usize::from(entry.metric)], entry.day, today));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan that reads `page` and `model`; only its property names matter to `extract`.
    fn plan() -> Plan {
        let raw = br#"{"lateness_ms": 0, "dedup_ids": 1, "reactivation_gap_days": 1,
            "order_retention_days": 1, "activity_retention_days": 1, "hour_bands": [],
            "metrics": ["n"], "windows": [], "deadline_windows": [], "recency": [], "lifetime": [],
            "rfm": null, "recency_steps": [], "families": [], "by_trigger": [[], [], [], [], [], []],
            "tag_metrics": [], "properties": ["model", "page"], "traits": [], "trait_metrics": [], "age": null, "custom_events": [],
            "property_metrics": [{"metric": 0, "event_type": 3, "aggregate": 0, "property": null,
                                  "days": null, "where": null, "deadlines": false}]}"#;
        Plan::from_json(raw).expect("a valid plan")
    }

    fn text(value: &str) -> Scalar {
        Scalar::Str(value.to_owned())
    }

    #[test]
    fn a_top_level_field_wins_over_the_properties_object_and_the_last_of_repeated_keys_counts() {
        let raw = br#"{"page": "/a", "properties": {"page": "/b", "model": "suv"}, "page": "/c", "x": [1, {"y": 2}]}"#;
        assert_eq!(extract(&plan(), raw), [text("suv"), text("/c")]);
        let repeated = br#"{"properties": {"model": "suv"}, "properties": {"page": "/p"}}"#;
        assert_eq!(
            extract(&plan(), repeated),
            [Scalar::Null, text("/p")],
            "the last properties object, whole"
        );
        let not_an_object = br#"{"properties": ["model", "suv"], "model": 7.5}"#;
        assert_eq!(extract(&plan(), not_an_object), [Scalar::Float(7.5), Scalar::Null]);
    }

    #[test]
    fn text_is_cut_at_256_characters_and_other_values_are_no_property() {
        let long = "é".repeat(300);
        let raw = format!(r#"{{"page": "{long}", "model": {{"name": "suv"}}}}"#);
        let [model, page] = <[Scalar; 2]>::try_from(extract(&plan(), raw.as_bytes())).expect("two");
        assert_eq!(model, Scalar::Null);
        assert_eq!(page, text(&"é".repeat(MAX_PROPERTY_CHARS)));
    }

    #[test]
    fn a_field_nested_as_deep_as_the_decoder_accepts_is_skipped() {
        let deep = format!(r#"{{"page": "/a", "x": {}{}}}"#, "[".repeat(1023), "]".repeat(1023));
        assert_eq!(extract(&plan(), deep.as_bytes()), [Scalar::Null, text("/a")]);
        let deep_wanted = format!(
            r#"{{"page": {}{}, "model": "suv"}}"#,
            "[".repeat(1023),
            "]".repeat(1023)
        );
        assert_eq!(
            extract(&plan(), deep_wanted.as_bytes()),
            [Scalar::Null, Scalar::Null],
            "too deep to read: none"
        );
    }

    #[test]
    fn sums_are_whole_hundredths_rounded_half_to_even_and_bounded() {
        assert_eq!(hundredths(&Scalar::Float(0.125)), Some(12));
        assert_eq!(hundredths(&Scalar::Float(25_999.99)), Some(2_599_999));
        assert_eq!(hundredths(&Scalar::Int(-7)), Some(-700));
        assert_eq!(hundredths(&Scalar::Bool(true)), None);
        assert_eq!(hundredths(&Scalar::Float(2e12)), None);
        assert_eq!(hundredths(&Scalar::Float(f64::NAN)), None);
    }
}
