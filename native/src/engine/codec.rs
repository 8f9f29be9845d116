//! Customer state <-> bytes for the changelog-backed table, format version 3.
//!
//! Version 1 is the positional JSON array the Python engine wrote before stop 21 (~1,000 bytes
//! for a typical customer).
//! Version 2 is binary: ~250 bytes for that customer, 8 more per remembered event id (hashed).
//! `decode` and `decode_wake` still read version 1 (its first byte is `[`), so a changelog written
//! by the Python engine upgrades in place: every state is rewritten as version 2 when next stored.
//!
//! Version 3 is version 2 with one section after the tags (below, 12.); a version-2 state reads
//! as version 3 without it.
//!
//! # Version 2
//!
//! `uvar` is an unsigned LEB128 varint (7 bits a byte, low first, at most 10 bytes for a u64);
//! `ivar` a zigzag-mapped `uvar` (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...). Differences of i64 values
//! are taken with wrapping arithmetic, as u64, so every value round-trips, extremes included; only
//! their size depends on the values being close. In order:
//!
//! 1. `u8` version, 2; then the `u32` little-endian fingerprint of the `TagTables` the tags were
//!    written with (a state from another version of the rule pack is read through those tables).
//! 2. `u16` little-endian presence bitmap. Bits 0-11: the optional timestamps, in the order
//!    `last_ts[0..4]`, `first_ts[0..4]`, `reactivated_at`, `clock`, `next_deadline`, `changed_at`
//!    (the "timestamp order" below); bits 12-14: `counters[i]` has keys; bit 15: 0.
//! 3. `uvar` number of pending events.
//! 4. Only if some timestamp is present or an event is pending: `ivar` base B, the largest of all
//!    those timestamps and the pending events' `ts`. Then, per present timestamp in timestamp order
//!    (the j-th written, j from 0): one `uvar` v; v < j: the same instant as the v-th timestamp
//!    written, else the timestamp is B - (v - j). (v is up to 2^64 + 11 here, still at most 10
//!    bytes.) A timestamp within a year of B costs 5 bytes, one equal to an earlier one 1 byte.
//! 5. Pending events, in order: `uvar` B - ts; event_id as `uvar` byte length + UTF-8; `uvar`
//!    kind << 2 | coupon << 1 | (channel is present); `ivar` amount_cents; the channel as a
//!    text (below) if present; `uvar` number of categories, each a text.
//!    Steps 1-5 are all `decode_wake` reads.
//! 6. `ivar` orders_total, revenue_cents, events_total, late_events.
//! 7. Order day buckets: `uvar` count; per bucket the day (the first as `ivar` D - day, D being
//!    B's UTC day (0 without B), the others as `uvar` day - previous day), then the counts:
//!    `uvar` (orders | coupon_orders << 3) << 1 when both are in 0..=7 (one byte), else `uvar` 1,
//!    `ivar` orders, `ivar` coupon_orders; then `ivar` revenue cents.
//! 8. Activity day buckets: `uvar` count; days as for orders; counts as `uvar` (opens | clicks << 2
//!    | visits << 4) << 1 when all are in 0..=3 (one byte), else `uvar` 1 and three `ivar`.
//! 9. `counter_order` as one byte, length | first << 2 | second << 4 | third << 6, when it has at
//!    most 3 entries (as `CustomerState::counter` keeps it), else 0xFF, `uvar` length and the
//!    indices as bytes (each < 3 on decode); then for each counter whose bit is set, in index
//!    order: `uvar` number of keys, per key a text and a `uvar` count.
//! 10. `uvar` number of recent ids, each a u64 little-endian (8 bytes).
//! 11. `uvar` number of tag slots (the rule pack's family count when written), then per slot one
//!     `uvar` code: 0 unset (None); 1 null; 2 false; 3 true; 4 int (`ivar` follows); 5 int above
//!     i64 (`uvar`); 6 float (8 bytes, the f64 bits little-endian); 7 string (a text); 8 + k: the
//!     k-th value of the family's table in `TagTables`, so a tag the pack can produce is one byte.
//!     The codes are positions in the tables named by the fingerprint: a state written under
//!     other tables is decoded with them (`decode_known`) and its tags moved by family name.
//! 12. Version 3 only: one byte with a bit per section that follows (bit 0 dwell stamps, 1
//!     property entries, 2 property feeds, 3 traits, 4 trait updates; the others 0), each section
//!     a `uvar` count then its
//!     items. Dwell stamps (`tag_since`, set for families with a minimum dwell time): `uvar` tag
//!     slot and `ivar` B - the instant. Property metric entries (`props`): a keyed index (below),
//!     `ivar` D - the day and `ivar` the total. Property feeds, per pending event that has any:
//!     its `uvar` position among the pending events, `uvar` number of feeds and per feed a keyed
//!     index and `ivar` amount. A keyed index is `uvar` metric << 1 | (a text follows), then the
//!     text. Traits (`traits`, by name): the name as a text, then the value as a tag outside any
//!     table (codes 1-7 of 11.). Trait updates, per pending profile event that has any: its `uvar`
//!     position, `uvar` number of updates and per update the name and a value (code 0: unset).
//!     A pending event's kind (5.) may be any of the six input types (`SOURCES`).
//!
//! A text (channel, category, counter key, string tag) is one `uvar` h then: h even, h / 2 bytes of
//! UTF-8 follow and the string joins the state's string list; h odd, it is the (h / 2)-th string of
//! that list. The list starts with `STATIC_TEXTS`, the default hour band names (`stream.rules`),
//! so an `hour_band` key costs one byte; changing that list needs a new format version. Counter
//! keys are otherwise written out (unique within a counter); a channel, category or string tag
//! seen earlier in the state costs one byte (e.g. `top` tag values, which are counter keys).
//! Nothing may follow the last section.
//!
//! Costs: an empty state 18 bytes + 1 per tag slot; the base 6 bytes for a timestamp of today in
//! ms, each other timestamp ~5 (1 if equal to an earlier one); an order day ~4-5 bytes, an activity
//! day 2, a recent id 8, a counter key its UTF-8 length + 2 (a default hour band 2), a tag 1 (one
//! outside its table: 1 + its payload, a string seen before 2). The test's typical customer (a year
//! of history, 6 order days, 12 activity days, 9 counter keys, 8 recent ids, 12 families) takes
//! 244 bytes, 1,124 as version 1.

use serde::de::{self, Deserializer as _, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

use super::state::{
    id_hash, Counter, CustomerState, DayBucket, Feed, PendingEvent, PropEntry, Scalar, COUNTER_NAMES, SOURCES, TYPES,
};
use crate::decode::EVENT_TYPES;
use crate::pyrepr::{str_repr, value_repr};

/// Per family of the rule pack, the tag values the pack can produce (case values + default, grid
/// segment names); index = small integer code. `fingerprint` names these tables in every state
/// written with them, so a state written under another rule pack is never read with the wrong
/// codes (see `TagTables::remap`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagTables {
    pub families: Vec<String>,
    pub values: Vec<Vec<Scalar>>,
    pub fingerprint: u32,
}

impl TagTables {
    pub fn new(families: Vec<String>, values: Vec<Vec<Scalar>>) -> Self {
        let mut tables = TagTables {
            families,
            values,
            fingerprint: 0,
        };
        tables.fingerprint = id_hash(&String::from_utf8_lossy(&tables.to_json())) as u32;
        tables
    }

    /// `{"families": [...], "values": [[...], ...]}`, non-finite floats as `{"float": "nan"}`
    /// (the rule plan's form): what the worker keeps in its table for each tables it wrote with.
    pub fn to_json(&self) -> Vec<u8> {
        let values: Vec<Value> = self
            .values
            .iter()
            .map(|table| Value::Array(table.iter().map(scalar_json).collect()))
            .collect();
        serde_json::to_vec(&serde_json::json!({"families": self.families, "values": values})).expect("plain JSON")
    }

    pub fn from_json(raw: &[u8]) -> Result<Self, String> {
        let bad = || "unreadable tag tables".to_owned();
        let value: Value = serde_json::from_slice(raw).map_err(|error| format!("unreadable tag tables: {error}"))?;
        let families = value
            .get("families")
            .and_then(Value::as_array)
            .ok_or_else(bad)?
            .iter()
            .map(|name| name.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()?;
        let values = value
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(bad)?
            .iter()
            .map(|table| {
                table
                    .as_array()
                    .ok_or_else(bad)?
                    .iter()
                    .map(super::plan::scalar)
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        if families.len() != values.len() {
            return Err(bad());
        }
        Ok(TagTables::new(families, values))
    }

    /// A state decoded with these tables, its tags moved to the families of `current` by name:
    /// a family the pack dropped loses its tag, a new one starts undecided (as version 1 did).
    pub fn remap(&self, mut state: CustomerState, current: &TagTables) -> CustomerState {
        let mut old = std::mem::take(&mut state.tags);
        let since = std::mem::take(&mut state.tag_since);
        let earlier: Vec<Option<usize>> = current
            .families
            .iter()
            .map(|family| self.families.iter().position(|known| known == family))
            .collect();
        state.tags = earlier
            .iter()
            .map(|at| at.and_then(|at| old.get_mut(at).and_then(Option::take)))
            .collect();
        if since.iter().any(Option::is_some) {
            state.tag_since = earlier
                .iter()
                .map(|at| at.and_then(|at| since.get(at).copied().flatten()))
                .collect();
        }
        state
    }
}

fn scalar_json(value: &Scalar) -> Value {
    match value {
        Scalar::Null => Value::Null,
        Scalar::Bool(flag) => Value::Bool(*flag),
        Scalar::Int(number) => (*number).into(),
        Scalar::UInt(number) => (*number).into(),
        Scalar::Float(number) if number.is_finite() => (*number).into(),
        Scalar::Float(number) => {
            let name = if number.is_nan() {
                "nan"
            } else if *number > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            serde_json::json!({ "float": name })
        }
        Scalar::Str(text) => Value::String(text.clone()),
    }
}

pub const VERSION: u8 = 3;
/// The format without the dwell stamps (stop 25 and before): still read.
const VERSION_2: u8 = 2;
/// Version 3's sections after the tags: dwell stamps, property entries, property feeds, traits,
/// pending trait updates.
const SECTIONS: u8 = 5;

const DAY_MS: i64 = 86_400_000;
/// The first entries of every state's string list (see the module docs): part of format 2.
const STATIC_TEXTS: [&str; 4] = ["night_owl", "morning", "daytime", "evening"];
/// `counter_order` written out in full rather than packed in one byte.
const ORDER_ESCAPE: u8 = 0xFF;
/// The optional timestamps, counter bits after them.
const STAMPS: usize = 12;
const COUNTER_BIT: usize = 12;
const DEADLINE_AT: usize = 10;
const RESERVED_BITS: u16 = 1 << 15;
/// Tag slot codes below the first table value.
const TAG_UNSET: u64 = 0;
const TAG_NULL: u64 = 1;
const TAG_FALSE: u64 = 2;
const TAG_TRUE: u64 = 3;
const TAG_INT: u64 = 4;
const TAG_UINT: u64 = 5;
const TAG_FLOAT: u64 = 6;
const TAG_STR: u64 = 7;
const TAG_TABLE: u64 = 8;

/// The stored value of one customer's state.
pub fn encode(state: &CustomerState, tables: &TagTables) -> Vec<u8> {
    let mut w = Writer {
        out: Vec::with_capacity(256),
        strings: STATIC_TEXTS.to_vec(),
    };
    w.out.push(VERSION);
    w.out.extend_from_slice(&tables.fingerprint.to_le_bytes());
    let stamps = timestamps(state);
    let mut bitmap = 0u16;
    for (bit, stamp) in stamps.iter().enumerate() {
        if stamp.is_some() {
            bitmap |= 1 << bit;
        }
    }
    for (index, counter) in state.counters.iter().enumerate() {
        if !counter.keys.is_empty() {
            bitmap |= 1 << (COUNTER_BIT + index);
        }
    }
    w.out.extend_from_slice(&bitmap.to_le_bytes());
    w.uvar(state.pending.len() as u64);
    let base = stamps
        .iter()
        .flatten()
        .chain(state.pending.iter().map(|event| &event.ts))
        .copied()
        .max();
    if let Some(base) = base {
        w.ivar(base);
        let mut written: Vec<i64> = Vec::with_capacity(STAMPS);
        for &stamp in stamps.iter().flatten() {
            match written.iter().position(|&earlier| earlier == stamp) {
                Some(at) => w.uvar(at as u64),
                None => w.uvar128(written.len() as u128 + below(base, stamp) as u128),
            }
            written.push(stamp);
        }
    }
    for event in &state.pending {
        w.uvar(below(base.unwrap_or(0), event.ts));
        w.bytes(event.event_id.as_bytes());
        w.uvar((event.kind as u64) << 2 | u64::from(event.coupon) << 1 | u64::from(event.channel.is_some()));
        w.ivar(event.amount_cents);
        if let Some(channel) = &event.channel {
            w.text(channel, true);
        }
        w.uvar(event.categories.len() as u64);
        for category in &event.categories {
            w.text(category, true);
        }
    }
    for total in [
        state.orders_total,
        state.revenue_cents,
        state.events_total,
        state.late_events,
    ] {
        w.ivar(total);
    }
    let base_day = base.unwrap_or(0).div_euclid(DAY_MS);
    w.buckets(&state.order_days, base_day, true);
    w.buckets(&state.activity_days, base_day, false);
    match state.counter_order.as_slice() {
        order if order.len() <= 3 && order.iter().all(|&index| index < 3) => {
            let packed = order
                .iter()
                .enumerate()
                .fold(order.len() as u8, |packed, (at, index)| packed | index << (2 + 2 * at));
            w.out.push(packed);
        }
        order => {
            w.out.push(ORDER_ESCAPE);
            w.bytes(order);
        }
    }
    for counter in state.counters.iter().filter(|counter| !counter.keys.is_empty()) {
        w.uvar(counter.keys.len() as u64);
        for (key, count) in &counter.keys {
            w.text(key, false);
            w.uvar(*count as u64);
        }
    }
    w.uvar(state.recent_ids.len() as u64);
    for id in &state.recent_ids {
        w.out.extend_from_slice(&id.to_le_bytes());
    }
    w.uvar(state.tags.len() as u64);
    for (slot, tag) in state.tags.iter().enumerate() {
        let Some(value) = tag else {
            w.uvar(TAG_UNSET);
            continue;
        };
        let table = tables.values.get(slot).map(Vec::as_slice).unwrap_or_default();
        if let Some(k) = table.iter().position(|known| same(known, value)) {
            w.uvar(TAG_TABLE + k as u64);
            continue;
        }
        w.scalar(value);
    }
    let stamps: Vec<(usize, i64)> = state
        .tag_since
        .iter()
        .enumerate()
        .filter_map(|(slot, since)| Some((slot, (*since)?)))
        .collect();
    let fed: Vec<(usize, &PendingEvent)> = state
        .pending
        .iter()
        .enumerate()
        .filter(|(_, event)| !event.feeds.is_empty())
        .collect();
    let profiled: Vec<(usize, &PendingEvent)> = state
        .pending
        .iter()
        .enumerate()
        .filter(|(_, event)| !event.traits.is_empty())
        .collect();
    let sections = [
        !stamps.is_empty(),
        !state.props.is_empty(),
        !fed.is_empty(),
        !state.traits.is_empty(),
        !profiled.is_empty(),
    ];
    w.out.push(
        sections
            .iter()
            .rev()
            .fold(0, |bits, present| bits << 1 | u8::from(*present)),
    );
    if sections[0] {
        w.uvar(stamps.len() as u64);
    }
    for (slot, since) in stamps {
        w.uvar(slot as u64);
        w.ivar(base.unwrap_or(0).wrapping_sub(since));
    }
    if sections[1] {
        w.uvar(state.props.len() as u64);
    }
    for entry in &state.props {
        w.keyed(entry.metric, entry.key.as_deref());
        w.ivar(base_day.wrapping_sub(entry.day));
        w.ivar(entry.value);
    }
    if sections[2] {
        w.uvar(fed.len() as u64);
    }
    for (index, event) in fed {
        w.uvar(index as u64);
        w.uvar(event.feeds.len() as u64);
        for feed in &event.feeds {
            w.keyed(feed.metric, feed.key.as_deref());
            w.ivar(feed.amount);
        }
    }
    if sections[3] {
        w.uvar(state.traits.len() as u64);
    }
    for (name, value) in &state.traits {
        w.text(name, true);
        w.scalar(value);
    }
    if sections[4] {
        w.uvar(profiled.len() as u64);
    }
    for (index, event) in profiled {
        w.uvar(index as u64);
        w.uvar(event.traits.len() as u64);
        for (name, value) in &event.traits {
            w.text(name, true);
            match value {
                Some(value) => w.scalar(value),
                None => w.uvar(TAG_UNSET),
            }
        }
    }
    w.out
}

/// The state stored as `raw`: version 2, or the version-1 JSON of earlier versions (its tags
/// placed by family name, those of families no longer in the pack dropped; recent ids hashed).
pub fn decode(customer_id: &str, raw: &[u8], tables: &TagTables) -> Result<CustomerState, String> {
    decode_known(customer_id, raw, tables, &[])
}

/// `decode`, also reading a state written with any of the `earlier` tables (another version of
/// the rule pack): its tags are moved to the current families by name (`TagTables::remap`).
pub fn decode_known(
    customer_id: &str,
    raw: &[u8],
    tables: &TagTables,
    earlier: &[TagTables],
) -> Result<CustomerState, String> {
    let decoded = match raw.first() {
        Some(&(VERSION | VERSION_2)) => match written_with(raw) {
            Some(fingerprint) if fingerprint != tables.fingerprint => {
                match earlier.iter().find(|old| old.fingerprint == fingerprint) {
                    Some(old) => decode_v2(raw, old).map(|state| old.remap(state, tables)),
                    None => Err(format!(
                        "written by a rule pack whose tag tables ({fingerprint:08x}) are unknown here"
                    )),
                }
            }
            _ => decode_v2(raw, tables),
        },
        Some(b'[') => decode_v1(raw, tables),
        Some(other) => Err(format!("unknown state format {other}")),
        None => Err("state bytes are empty".to_owned()),
    };
    decoded.map_err(|message| blame(customer_id, &message))
}

/// Only `CustomerState::wake_time()` of the state stored as `raw`, without decoding the rest.
pub fn decode_wake(customer_id: &str, raw: &[u8]) -> Result<Option<i64>, String> {
    let decoded = match raw.first() {
        Some(&(VERSION | VERSION_2)) => wake_v2(raw),
        Some(b'[') => wake_v1(raw),
        Some(other) => Err(format!("unknown state format {other}")),
        None => Err("state bytes are empty".to_owned()),
    };
    decoded.map_err(|message| blame(customer_id, &message))
}

/// The fingerprint of the tag tables a version-2 state was written with.
pub fn written_with(raw: &[u8]) -> Option<u32> {
    raw.get(1..5)
        .map(|bytes| u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
}

fn blame(customer_id: &str, message: &str) -> String {
    format!("customer {}: {message}", str_repr(customer_id))
}

/// The optional timestamps in the order the bitmap and the timestamp section list them.
fn timestamps(state: &CustomerState) -> [Option<i64>; STAMPS] {
    let [l0, l1, l2, l3] = state.last_ts;
    let [f0, f1, f2, f3] = state.first_ts;
    [
        l0,
        l1,
        l2,
        l3,
        f0,
        f1,
        f2,
        f3,
        state.reactivated_at,
        state.clock,
        state.next_deadline,
        state.changed_at,
    ]
}

/// `base - value` as the u64 it is whenever value <= base.
fn below(base: i64, value: i64) -> u64 {
    base.wrapping_sub(value) as u64
}

/// Equal as tag values: floats by their bits, so -0.0 is not the table's 0.0.
fn same(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::Float(x), Scalar::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}

struct Writer<'a> {
    out: Vec<u8>,
    /// Texts written so far, in order: what a back-reference indexes.
    strings: Vec<&'a str>,
}

impl<'a> Writer<'a> {
    fn uvar(&mut self, value: u64) {
        self.uvar128(u128::from(value));
    }

    fn uvar128(&mut self, mut value: u128) {
        while value >= 0x80 {
            self.out.push(value as u8 | 0x80);
            value >>= 7;
        }
        self.out.push(value as u8);
    }

    fn ivar(&mut self, value: i64) {
        self.uvar(zigzag(value));
    }

    /// A property metric index with whether a text follows, then the text.
    fn keyed(&mut self, metric: u16, key: Option<&'a str>) {
        self.uvar(u64::from(metric) << 1 | u64::from(key.is_some()));
        if let Some(key) = key {
            self.text(key, true);
        }
    }

    /// A tag or trait value outside any table: its code (`TAG_NULL`..`TAG_STR`) and payload.
    fn scalar(&mut self, value: &'a Scalar) {
        match value {
            Scalar::Null => self.uvar(TAG_NULL),
            Scalar::Bool(false) => self.uvar(TAG_FALSE),
            Scalar::Bool(true) => self.uvar(TAG_TRUE),
            Scalar::Int(number) => {
                self.uvar(TAG_INT);
                self.ivar(*number);
            }
            Scalar::UInt(number) => {
                self.uvar(TAG_UINT);
                self.uvar(*number);
            }
            Scalar::Float(number) => {
                self.uvar(TAG_FLOAT);
                self.out.extend_from_slice(&number.to_bits().to_le_bytes());
            }
            Scalar::Str(text) => {
                self.uvar(TAG_STR);
                self.text(text, true);
            }
        }
    }

    fn bytes(&mut self, data: &[u8]) {
        self.uvar(data.len() as u64);
        self.out.extend_from_slice(data);
    }

    /// A text; `reuse`: refer to an equal earlier text if there is one, else only to a static one.
    fn text(&mut self, text: &'a str, reuse: bool) {
        let known = if reuse {
            &self.strings[..]
        } else {
            &self.strings[..STATIC_TEXTS.len()]
        };
        if let Some(at) = known.iter().position(|known| *known == text) {
            self.uvar((at as u64) << 1 | 1);
            return;
        }
        self.uvar((text.len() as u64) << 1);
        self.out.extend_from_slice(text.as_bytes());
        self.strings.push(text);
    }

    fn buckets(&mut self, buckets: &[DayBucket], base_day: i64, orders: bool) {
        self.uvar(buckets.len() as u64);
        let mut previous = None;
        for bucket in buckets {
            match previous {
                None => self.ivar(base_day.wrapping_sub(bucket.day)),
                Some(previous) => self.uvar(bucket.day.wrapping_sub(previous) as u64),
            }
            previous = Some(bucket.day);
            let [a, b, c] = bucket.counts;
            if orders {
                if (0..=7).contains(&a) && (0..=7).contains(&c) {
                    self.uvar(((a | c << 3) as u64) << 1);
                } else {
                    self.uvar(1);
                    self.ivar(a);
                    self.ivar(c);
                }
                self.ivar(b);
            } else if [a, b, c].iter().all(|count| (0..=3).contains(count)) {
                self.uvar(((a | b << 2 | c << 4) as u64) << 1);
            } else {
                self.uvar(1);
                self.ivar(a);
                self.ivar(b);
                self.ivar(c);
            }
        }
    }
}

struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
    strings: Vec<&'a str>,
}

type Read<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Reader {
            raw,
            at: 0,
            strings: STATIC_TEXTS.to_vec(),
        }
    }

    fn early(&self) -> String {
        format!("state bytes end early at byte {}", self.raw.len())
    }

    fn take(&mut self, n: usize) -> Read<&'a [u8]> {
        if self.raw.len() - self.at < n {
            return Err(self.early());
        }
        let taken = &self.raw[self.at..self.at + n];
        self.at += n;
        Ok(taken)
    }

    fn byte(&mut self) -> Read<u8> {
        Ok(self.take(1)?[0])
    }

    fn uvar128(&mut self) -> Read<u128> {
        let start = self.at;
        let mut value = 0u128;
        for shift in (0..).step_by(7).take(19) {
            let byte = self.byte()?;
            value |= u128::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("varint too long at byte {start}"))
    }

    fn uvar(&mut self) -> Read<u64> {
        let start = self.at;
        u64::try_from(self.uvar128()?).map_err(|_| format!("varint above 2^64 at byte {start}"))
    }

    fn ivar(&mut self) -> Read<i64> {
        Ok(unzigzag(self.uvar()?))
    }

    /// The value `Writer::scalar` wrote with `code` (read already); None for `TAG_UNSET`.
    fn scalar(&mut self, code: u64) -> Read<Option<Scalar>> {
        Ok(match code {
            TAG_UNSET => None,
            TAG_NULL => Some(Scalar::Null),
            TAG_FALSE => Some(Scalar::Bool(false)),
            TAG_TRUE => Some(Scalar::Bool(true)),
            TAG_INT => Some(Scalar::Int(self.ivar()?)),
            TAG_UINT => Some(Scalar::UInt(self.uvar()?)),
            TAG_FLOAT => Some(Scalar::Float(f64::from_bits(u64::from_le_bytes(
                self.take(8)?.try_into().unwrap_or_default(),
            )))),
            TAG_STR => Some(Scalar::Str(self.text()?)),
            code => return Err(format!("value code {code} before byte {}", self.at)),
        })
    }

    fn keyed(&mut self) -> Read<(u16, Option<Box<str>>)> {
        let start = self.at;
        let code = self.uvar()?;
        let metric = u16::try_from(code >> 1).map_err(|_| format!("property metric {} at byte {start}", code >> 1))?;
        let key = if code & 1 == 1 {
            Some(self.text()?.into_boxed_str())
        } else {
            None
        };
        Ok((metric, key))
    }

    /// A count of items that take at least one byte each: never more than the bytes left.
    fn count(&mut self) -> Read<usize> {
        let count = self.uvar()?;
        if count > (self.raw.len() - self.at) as u64 {
            return Err(self.early());
        }
        Ok(count as usize)
    }

    fn utf8(&self, data: &'a [u8]) -> Read<&'a str> {
        std::str::from_utf8(data).map_err(|_| format!("invalid UTF-8 before byte {}", self.at))
    }

    fn string(&mut self) -> Read<String> {
        let length = self.count()?;
        let data = self.take(length)?;
        Ok(self.utf8(data)?.to_owned())
    }

    fn text(&mut self) -> Read<String> {
        let start = self.at;
        let header = self.uvar()?;
        if header & 1 == 1 {
            let at = header >> 1;
            return match self.strings.get(at as usize) {
                Some(known) => Ok((*known).to_owned()),
                None => Err(format!(
                    "string reference {at} at byte {start} is beyond the {} read",
                    self.strings.len()
                )),
            };
        }
        let length = header >> 1;
        if length > (self.raw.len() - self.at) as u64 {
            return Err(self.early());
        }
        let data = self.take(length as usize)?;
        let text = self.utf8(data)?;
        self.strings.push(text);
        Ok(text.to_owned())
    }

    fn buckets(&mut self, base_day: i64, orders: bool) -> Read<Vec<DayBucket>> {
        let count = self.count()?;
        let mut buckets = Vec::with_capacity(count);
        let mut previous: Option<i64> = None;
        for _ in 0..count {
            let day = match previous {
                None => base_day.wrapping_sub(self.ivar()?),
                Some(previous) => previous.wrapping_add(self.uvar()? as i64),
            };
            previous = Some(day);
            let start = self.at;
            let packed = self.uvar()?;
            let counts = match (packed, orders) {
                (1, true) => {
                    let (a, c) = (self.ivar()?, self.ivar()?);
                    [a, self.ivar()?, c]
                }
                (1, false) => [self.ivar()?, self.ivar()?, self.ivar()?],
                (packed, true) if packed & 1 == 0 && packed < 1 << 7 => {
                    let bits = (packed >> 1) as i64;
                    [bits & 7, self.ivar()?, bits >> 3]
                }
                (packed, false) if packed & 1 == 0 && packed < 1 << 7 => {
                    let bits = (packed >> 1) as i64;
                    [bits & 3, bits >> 2 & 3, bits >> 4]
                }
                _ => return Err(format!("bad day bucket counts {packed} at byte {start}")),
            };
            buckets.push(DayBucket { day, counts });
        }
        Ok(buckets)
    }

    /// Steps 1-4 of the layout: the bitmap, the pending count, the base and the timestamps.
    fn header(&mut self) -> Read<Header> {
        self.byte()?;
        self.take(4)?; // the tag tables' fingerprint
        let bitmap = u16::from_le_bytes([self.byte()?, self.byte()?]);
        if bitmap & RESERVED_BITS != 0 {
            return Err(format!("reserved bits set in the presence bitmap {bitmap:#06x}"));
        }
        let pending = self.count()?;
        let mut stamps = [None; STAMPS];
        let present = bitmap & ((1 << STAMPS) - 1);
        let base = if present != 0 || pending > 0 {
            Some(self.ivar()?)
        } else {
            None
        };
        let mut written: Vec<i64> = Vec::with_capacity(STAMPS);
        for (bit, stamp) in stamps.iter_mut().enumerate() {
            if present & 1 << bit == 0 {
                continue;
            }
            let start = self.at;
            let code = self.uvar128()?;
            let value = match usize::try_from(code).ok().and_then(|at| written.get(at)) {
                Some(&earlier) => earlier,
                None => {
                    let delta = u64::try_from(code - written.len() as u128)
                        .map_err(|_| format!("timestamp delta above 2^64 at byte {start}"))?;
                    base.unwrap_or(0).wrapping_sub(delta as i64)
                }
            };
            written.push(value);
            *stamp = Some(value);
        }
        Ok(Header {
            bitmap,
            pending,
            base,
            stamps,
        })
    }
}

struct Header {
    bitmap: u16,
    pending: usize,
    base: Option<i64>,
    stamps: [Option<i64>; STAMPS],
}

fn decode_v2(raw: &[u8], tables: &TagTables) -> Read<CustomerState> {
    let mut r = Reader::new(raw);
    let Header {
        bitmap,
        pending,
        base,
        stamps,
    } = r.header()?;
    let base = base.unwrap_or(0);
    let mut state = CustomerState::default();
    let [l0, l1, l2, l3, f0, f1, f2, f3, reactivated_at, clock, next_deadline, changed_at] = stamps;
    state.last_ts = [l0, l1, l2, l3];
    state.first_ts = [f0, f1, f2, f3];
    state.reactivated_at = reactivated_at;
    state.clock = clock;
    state.next_deadline = next_deadline;
    state.changed_at = changed_at;
    state.pending = Vec::with_capacity(pending);
    for _ in 0..pending {
        let ts = base.wrapping_sub(r.uvar()? as i64);
        let event_id = r.string()?;
        let start = r.at;
        let flags = r.uvar()?;
        let kind = (flags >> 2) as usize;
        if kind >= SOURCES {
            return Err(format!("unknown event kind {kind} at byte {start}"));
        }
        let amount_cents = r.ivar()?;
        let channel = if flags & 1 == 1 { Some(r.text()?) } else { None };
        let count = r.count()?;
        let categories = (0..count).map(|_| r.text()).collect::<Read<_>>()?;
        state.pending.push(PendingEvent {
            id_hash: id_hash(&event_id),
            event_id,
            kind,
            ts,
            amount_cents,
            coupon: flags & 2 == 2,
            channel,
            categories,
            feeds: Vec::new(),
            traits: Vec::new(),
        });
    }
    state.orders_total = r.ivar()?;
    state.revenue_cents = r.ivar()?;
    state.events_total = r.ivar()?;
    state.late_events = r.ivar()?;
    let base_day = base.div_euclid(DAY_MS);
    state.order_days = r.buckets(base_day, true)?;
    state.activity_days = r.buckets(base_day, false)?;
    let packed = r.byte()?;
    state.counter_order = if packed == ORDER_ESCAPE {
        let order = r.count()?;
        r.take(order)?.to_vec()
    } else {
        let order: Vec<u8> = (0..usize::from(packed & 3))
            .map(|at| packed >> (2 + 2 * at) & 3)
            .collect();
        if u32::from(packed) >> (2 + 2 * order.len()) != 0 {
            return Err(format!("bad counter order byte {packed:#04x}"));
        }
        order
    };
    if let Some(bad) = state
        .counter_order
        .iter()
        .find(|&&index| usize::from(index) >= COUNTER_NAMES.len())
    {
        return Err(format!("unknown counter {bad} in the counter order"));
    }
    for (index, counter) in state.counters.iter_mut().enumerate() {
        if bitmap & 1 << (COUNTER_BIT + index) == 0 {
            continue;
        }
        let count = r.count()?;
        counter.keys = (0..count)
            .map(|_| Ok((r.text()?, r.uvar()? as i64)))
            .collect::<Read<_>>()?;
    }
    let ids = r.count()?;
    state.recent_ids = (0..ids)
        .map(|_| Ok(u64::from_le_bytes(r.take(8)?.try_into().unwrap_or_default())))
        .collect::<Read<_>>()?;
    let slots = r.uvar()?;
    if slots != tables.values.len() as u64 {
        return Err(format!(
            "state written for {slots} families, this rule pack has {}",
            tables.values.len()
        ));
    }
    state.tags = Vec::with_capacity(tables.values.len());
    for table in &tables.values {
        let start = r.at;
        let tag = match r.uvar()? {
            code if code < TAG_TABLE => r.scalar(code)?,
            code => match table.get((code - TAG_TABLE) as usize) {
                Some(value) => Some(value.clone()),
                None => {
                    let family = tables.families.get(state.tags.len()).map_or("?", String::as_str);
                    return Err(format!(
                        "tag code {code} at byte {start} is beyond the {} values of family {}",
                        table.len(),
                        str_repr(family)
                    ));
                }
            },
        };
        state.tags.push(tag);
    }
    if raw[0] == VERSION {
        let start = r.at;
        let sections = r.byte()?;
        if sections >> SECTIONS != 0 {
            return Err(format!("unknown sections {sections:#04x} at byte {start}"));
        }
        let count = |r: &mut Reader, bit: u8| if sections & 1 << bit != 0 { r.count() } else { Ok(0) };
        let stamps = count(&mut r, 0)?;
        for _ in 0..stamps {
            let start = r.at;
            let slot = r.uvar()?;
            if slot >= state.tags.len() as u64 {
                return Err(format!(
                    "dwell stamp for tag slot {slot} at byte {start}, past the last"
                ));
            }
            state.set_since(slot as usize, base.wrapping_sub(r.ivar()?));
        }
        let entries = count(&mut r, 1)?;
        for _ in 0..entries {
            let (metric, key) = r.keyed()?;
            let day = base_day.wrapping_sub(r.ivar()?);
            state.props.push(PropEntry {
                metric,
                day,
                key,
                value: r.ivar()?,
            });
        }
        let fed = count(&mut r, 2)?;
        for _ in 0..fed {
            let start = r.at;
            let index = r.uvar()?;
            let feeds = r.count()?;
            let feeds = (0..feeds)
                .map(|_| {
                    let (metric, key) = r.keyed()?;
                    Ok(Feed {
                        metric,
                        key,
                        amount: r.ivar()?,
                    })
                })
                .collect::<Read<Vec<Feed>>>()?;
            match state.pending.get_mut(index as usize) {
                Some(event) => event.feeds = feeds,
                None => {
                    return Err(format!(
                        "feeds for pending event {index} at byte {start}, past the last"
                    ))
                }
            }
        }
        let traits = count(&mut r, 3)?;
        for _ in 0..traits {
            let (name, start) = (r.text()?, r.at);
            let code = r.uvar()?;
            let value = r.scalar(code)?.ok_or_else(|| format!("unset trait at byte {start}"))?;
            state.traits.push((name.into(), value));
        }
        let profiled = count(&mut r, 4)?;
        for _ in 0..profiled {
            let start = r.at;
            let index = r.uvar()?;
            let updates = r.count()?;
            let updates = (0..updates)
                .map(|_| {
                    let name = r.text()?;
                    let code = r.uvar()?;
                    Ok((name.into(), r.scalar(code)?))
                })
                .collect::<Read<Vec<_>>>()?;
            match state.pending.get_mut(index as usize) {
                Some(event) => event.traits = updates,
                None => {
                    return Err(format!(
                        "trait updates for pending event {index} at byte {start}, past the last"
                    ))
                }
            }
        }
    }
    if r.at != raw.len() {
        return Err(format!("{} bytes after the end of the state", raw.len() - r.at));
    }
    Ok(state)
}

fn wake_v2(raw: &[u8]) -> Read<Option<i64>> {
    let mut r = Reader::new(raw);
    let header = r.header()?;
    let first_pending = if header.pending > 0 {
        Some(header.base.unwrap_or(0).wrapping_sub(r.uvar()? as i64))
    } else {
        None
    };
    Ok(super::state::wake_time(header.stamps[DEADLINE_AT], first_pending))
}

// ---- version 1: the Python engine's JSON array ----

const V1_FIELDS: usize = 17;

fn check_v1_version(version: &Value) -> Read<()> {
    if version.as_f64() == Some(1.0) {
        Ok(())
    } else {
        Err(format!("state format {} is not 1", value_repr(version)))
    }
}

fn decode_v1(raw: &[u8], tables: &TagTables) -> Read<CustomerState> {
    let value: Value = serde_json::from_slice(raw).map_err(|error| format!("state is not valid JSON: {error}"))?;
    let Value::Array(fields) = value else {
        return Err("version-1 state is not a JSON array".to_owned());
    };
    check_v1_version(fields.first().unwrap_or(&Value::Null))?;
    let fields: &[Value; V1_FIELDS] = fields
        .as_slice()
        .try_into()
        .map_err(|_| format!("version-1 state has {} fields, not {V1_FIELDS}", fields.len()))?;
    let [_, first_ts, last_ts, orders, revenue, events, order_days, activity_days, reactivated, counters, recent_ids, tags, pending, clock, deadline, late, changed_at] =
        fields;
    let mut state = CustomerState::new(tables.values.len());
    state.first_ts = v1_stamps(first_ts, "first_ts")?;
    state.last_ts = v1_stamps(last_ts, "last_ts")?;
    state.orders_total = v1_int(orders, "orders_total")?;
    state.revenue_cents = v1_int(revenue, "revenue_cents")?;
    state.events_total = v1_int(events, "events_total")?;
    state.order_days = v1_buckets(order_days, "order_days")?;
    state.activity_days = v1_buckets(activity_days, "activity_days")?;
    state.reactivated_at = v1_option(reactivated, "reactivated_at")?;
    let Value::Object(counters) = counters else {
        return Err("version-1 field counters is not an object".to_owned());
    };
    for (name, keys) in counters {
        let index = COUNTER_NAMES
            .iter()
            .position(|known| known == name)
            .ok_or_else(|| format!("version-1 state has an unknown counter {}", str_repr(name)))?;
        if !state.counter_order.contains(&(index as u8)) {
            state.counter_order.push(index as u8);
        }
        let Value::Object(keys) = keys else {
            return Err(format!("version-1 counter {} is not an object", str_repr(name)));
        };
        state.counters[index] = Counter {
            keys: keys
                .iter()
                .map(|(key, count)| Ok((key.clone(), v1_int(count, name)?)))
                .collect::<Read<_>>()?,
        };
    }
    state.recent_ids = v1_list(recent_ids, "recent_ids")?
        .iter()
        .map(|id| {
            id.as_str()
                .map(id_hash)
                .ok_or_else(|| "version-1 recent_ids holds a non-string".to_owned())
        })
        .collect::<Read<_>>()?;
    let Value::Object(tags) = tags else {
        return Err("version-1 field tags is not an object".to_owned());
    };
    for (name, value) in tags {
        let slot = tables
            .families
            .iter()
            .position(|family| family == name)
            .and_then(|at| state.tags.get_mut(at));
        if let Some(slot) = slot {
            *slot = Some(v1_scalar(value).ok_or_else(|| format!("version-1 tag {} is not a scalar", str_repr(name)))?);
        }
    }
    state.pending = v1_list(pending, "pending")?
        .iter()
        .map(v1_pending)
        .collect::<Read<_>>()?;
    state.clock = v1_option(clock, "clock")?;
    state.next_deadline = v1_option(deadline, "next_deadline")?;
    state.late_events = v1_int(late, "late_events")?;
    state.changed_at = v1_option(changed_at, "changed_at")?;
    Ok(state)
}

fn v1_int(value: &Value, field: &str) -> Read<i64> {
    value
        .as_i64()
        .ok_or_else(|| format!("version-1 field {field} holds {}, not a 64-bit int", value_repr(value)))
}

fn v1_option(value: &Value, field: &str) -> Read<Option<i64>> {
    if value.is_null() {
        Ok(None)
    } else {
        v1_int(value, field).map(Some)
    }
}

fn v1_list<'v>(value: &'v Value, field: &str) -> Read<&'v Vec<Value>> {
    value
        .as_array()
        .ok_or_else(|| format!("version-1 field {field} is not a list"))
}

fn v1_stamps(value: &Value, field: &str) -> Read<[Option<i64>; TYPES]> {
    let list = v1_list(value, field)?;
    let mut stamps = [None; TYPES];
    if list.len() != TYPES {
        return Err(format!("version-1 field {field} has {} items, not {TYPES}", list.len()));
    }
    for (stamp, item) in stamps.iter_mut().zip(list) {
        *stamp = v1_option(item, field)?;
    }
    Ok(stamps)
}

fn v1_buckets(value: &Value, field: &str) -> Read<Vec<DayBucket>> {
    let flat = v1_list(value, field)?;
    if flat.len() % 4 != 0 {
        return Err(format!(
            "version-1 field {field} has {} items, not a multiple of 4",
            flat.len()
        ));
    }
    let mut buckets: Vec<DayBucket> = Vec::with_capacity(flat.len() / 4);
    for chunk in flat.chunks_exact(4) {
        let day = v1_int(&chunk[0], field)?;
        let counts = [
            v1_int(&chunk[1], field)?,
            v1_int(&chunk[2], field)?,
            v1_int(&chunk[3], field)?,
        ];
        // `_unflatten` builds a dict: a repeated day keeps its last counts.
        match buckets.binary_search_by_key(&day, |bucket| bucket.day) {
            Ok(at) => buckets[at].counts = counts,
            Err(at) => buckets.insert(at, DayBucket { day, counts }),
        }
    }
    Ok(buckets)
}

fn v1_scalar(value: &Value) -> Option<Scalar> {
    Some(match value {
        Value::Null => Scalar::Null,
        Value::Bool(flag) => Scalar::Bool(*flag),
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(int), _) => Scalar::Int(int),
            (None, Some(uint)) => Scalar::UInt(uint),
            _ => Scalar::Float(number.as_f64()?),
        },
        Value::String(text) => Scalar::Str(text.clone()),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// `[event_id, type, ts, amount_cents, coupon, channel, categories]`.
fn v1_pending(value: &Value) -> Read<PendingEvent> {
    let bad = || format!("version-1 pending event {} is malformed", value_repr(value));
    let Some([event_id, kind, ts, amount_cents, coupon, channel, categories]) = value
        .as_array()
        .and_then(|items| <&[Value; 7]>::try_from(items.as_slice()).ok())
    else {
        return Err(bad());
    };
    let kind = kind
        .as_str()
        .and_then(|name| EVENT_TYPES.iter().position(|known| *known == name))
        .ok_or_else(bad)?;
    let event_id = event_id.as_str().ok_or_else(bad)?.to_owned();
    Ok(PendingEvent {
        id_hash: id_hash(&event_id),
        event_id,
        kind,
        ts: ts.as_i64().ok_or_else(bad)?,
        amount_cents: amount_cents.as_i64().ok_or_else(bad)?,
        coupon: coupon.as_bool().ok_or_else(bad)?,
        channel: match channel {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            _ => return Err(bad()),
        },
        categories: categories
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|category| category.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Read<_>>()?,
        feeds: Vec::new(),
        traits: Vec::new(),
    })
}

/// As the Python engine's `decode_wake` did: reads the version, pending[0][2] and next_deadline, skips the rest.
fn wake_v1(raw: &[u8]) -> Read<Option<i64>> {
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let wake = deserializer
        .deserialize_seq(WakeV1)
        .and_then(|wake| deserializer.end().map(|()| wake))
        .map_err(|error| format!("state is not valid version-1 JSON: {error}"))?;
    wake
}

/// Visits the top-level array; the inner Result carries a wrong version, which is not a JSON error.
struct WakeV1;

impl<'de> Visitor<'de> for WakeV1 {
    type Value = Read<Option<i64>>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a version-1 state array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let short = |at: usize| -> A::Error {
            de::Error::custom(format!("the state array ends at {at} items, before {V1_FIELDS}"))
        };
        let version: Value = seq.next_element()?.ok_or_else(|| short(0))?;
        if let Err(message) = check_v1_version(&version) {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Err(message));
        }
        for at in 1..12 {
            seq.next_element::<IgnoredAny>()?.ok_or_else(|| short(at))?;
        }
        let first_pending = seq.next_element_seed(FirstPending)?.ok_or_else(|| short(12))?;
        seq.next_element::<IgnoredAny>()?.ok_or_else(|| short(13))?;
        let deadline: Option<i64> = seq.next_element()?.ok_or_else(|| short(14))?;
        let mut count = 15;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        if count != V1_FIELDS {
            return Ok(Err(format!("version-1 state has {count} fields, not {V1_FIELDS}")));
        }
        Ok(Ok(super::state::wake_time(deadline, first_pending)))
    }
}

/// The pending list: the ts of its first event, if any.
struct FirstPending;

impl<'de> de::DeserializeSeed<'de> for FirstPending {
    type Value = Option<i64>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FirstPending {
    type Value = Option<i64>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("the pending events list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element_seed(PendingTs)?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(first)
    }
}

/// One pending event `[event_id, type, ts, ...]`: its ts.
struct PendingTs;

impl<'de> de::DeserializeSeed<'de> for PendingTs {
    type Value = i64;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PendingTs {
    type Value = i64;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a pending event [event_id, type, ts, ...]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let missing = || -> A::Error { de::Error::custom("a pending event without a ts") };
        seq.next_element::<IgnoredAny>()?.ok_or_else(missing)?;
        seq.next_element::<IgnoredAny>()?.ok_or_else(missing)?;
        let ts: i64 = seq.next_element()?.ok_or_else(missing)?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{ORDER, PROFILE};

    const C: &str = "c1";

    fn text(value: &str) -> Scalar {
        Scalar::Str(value.to_owned())
    }

    fn texts(values: &[&str]) -> Vec<Scalar> {
        values.iter().map(|value| text(value)).collect()
    }

    /// The tables of config/rules/default.toml: 12 families, the last 3 `top` ones.
    fn default_pack() -> TagTables {
        let truth = vec![Scalar::Bool(true), Scalar::Bool(false)];
        let families = [
            (
                "lifecycle",
                texts(&["prospect", "churned", "dormant", "reactivated", "new", "active"]),
            ),
            ("value_tier", texts(&["high", "medium", "low"])),
            ("vip", truth.clone()),
            ("frequency_band", texts(&["high", "medium", "low"])),
            ("engagement", texts(&["active", "interested", "silent"])),
            ("churn_risk", truth.clone()),
            ("trend", texts(&["growing", "declining", "stable"])),
            (
                "rfm_segment",
                texts(&[
                    "new_customer",
                    "potential_loyalist",
                    "champions",
                    "promising",
                    "loyal",
                    "about_to_sleep",
                    "need_attention",
                    "hibernating",
                    "at_risk",
                    "cant_lose",
                    "lost",
                    "none",
                ]),
            ),
            ("coupon_user", truth),
            ("order_hour", texts(&["unknown"])),
            ("preferred_channel", texts(&["unknown"])),
            ("top_category", texts(&["unknown"])),
        ];
        TagTables::new(
            families.iter().map(|(name, _)| name.to_string()).collect(),
            families.into_iter().map(|(_, values)| values).collect(),
        )
    }

    fn event(
        id: &str,
        kind: usize,
        ts: i64,
        amount_cents: i64,
        channel: Option<&str>,
        categories: &[&str],
    ) -> PendingEvent {
        PendingEvent {
            id_hash: id_hash(id),
            event_id: id.to_owned(),
            kind,
            ts,
            amount_cents,
            coupon: amount_cents % 2 == 1,
            channel: channel.map(str::to_owned),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            feeds: vec![],
            traits: vec![],
        }
    }

    fn keys(pairs: &[(&str, i64)]) -> Counter {
        Counter {
            keys: pairs.iter().map(|(key, count)| (key.to_string(), *count)).collect(),
        }
    }

    fn rich_tables() -> TagTables {
        let mut tables = default_pack();
        tables.families.truncate(4);
        tables.values.truncate(4);
        for (name, values) in [
            ("f_int", vec![Scalar::Int(1), Scalar::Float(0.0)]),
            ("f_uint", vec![]),
            ("f_neg_zero", vec![Scalar::Float(0.0)]),
            ("f_inf", vec![Scalar::Float(1.5)]),
            ("f_null", vec![]),
            ("f_true", vec![text("true")]),
            ("f_ref", vec![]),
            ("f_tiny", vec![]),
        ] {
            tables.families.push(name.to_owned());
            tables.values.push(values);
        }
        tables
    }

    /// Every field set, extremes and Unicode included.
    fn rich_state() -> CustomerState {
        let mut state = CustomerState::new(12);
        state.first_ts = [Some(i64::MIN), Some(-86_400_000_123), None, Some(i64::MAX)];
        state.last_ts = [Some(i64::MAX), Some(-1), Some(0), None];
        state.orders_total = i64::MAX;
        state.revenue_cents = i64::MIN;
        state.events_total = 12_345;
        state.late_events = -7;
        state.order_days = vec![
            DayBucket {
                day: -40_000,
                counts: [1, -500, 0],
            },
            DayBucket {
                day: 3,
                counts: [9, 1_000_000_000_000_000, 8],
            },
            DayBucket {
                day: 19_000,
                counts: [7, 12_999, 7],
            },
            DayBucket {
                day: 19_001,
                counts: [i64::MAX, i64::MIN, -1],
            },
        ];
        state.activity_days = vec![
            DayBucket {
                day: i64::MIN,
                counts: [0, 0, 0],
            },
            DayBucket {
                day: -1,
                counts: [3, 3, 3],
            },
            DayBucket {
                day: 0,
                counts: [4, 0, 0],
            },
            DayBucket {
                day: i64::MAX,
                counts: [1, 2, -3],
            },
        ];
        state.reactivated_at = Some(-5);
        state.clock = Some(i64::MIN);
        state.next_deadline = Some(1_700_000_000_000);
        state.changed_at = Some(-1);
        state.counters = [
            keys(&[("web", 1), ("ストア", 5), ("", -3)]),
            Counter {
                keys: (0..32).map(|i| (format!("catégorie {i} 🛒"), i64::MAX - i)).collect(),
            },
            keys(&[("night_owl", 2), ("evening", 1), ("custom band", 9)]),
        ];
        state.counter_order = vec![2, 0, 1];
        state.recent_ids = vec![0, u64::MAX, id_hash("x"), id_hash("événement-1")];
        state.tags = vec![
            Some(text("dormant")),
            None,
            Some(Scalar::Bool(false)),
            Some(text("literal ✓ \u{0}")),
            Some(Scalar::Int(i64::MIN)),
            Some(Scalar::UInt(u64::MAX)),
            Some(Scalar::Float(-0.0)),
            Some(Scalar::Float(f64::NEG_INFINITY)),
            Some(Scalar::Null),
            Some(Scalar::Bool(true)),
            Some(text("web")),
            Some(Scalar::Float(-1e-300)),
        ];
        state.pending = vec![
            event("e-ü-1", ORDER, i64::MIN, i64::MIN, Some("web"), &["ø", "ø", "books"]),
            event("", 1, -1, 0, None, &[]),
            event("日本", 2, 1_700_000_000_001, 1, Some(""), &["books"]),
            event("z", 3, 1_700_000_000_001, i64::MAX, Some("新"), &["新"]),
        ];
        state
    }

    /// A realistic active customer: a year of history, 6 order days, 12 activity days, 8 recent ids.
    fn typical_state(tags: usize) -> CustomerState {
        let now = 1_717_171_717_171;
        let ago = |days: i64, ms: i64| now - days * DAY_MS - ms;
        let today = now.div_euclid(DAY_MS);
        let mut state = CustomerState::new(12);
        state.first_ts = [
            Some(ago(340, 3_601_234)),
            Some(ago(300, 51_987)),
            Some(ago(290, 7_777_001)),
            Some(ago(345, 12_345_678)),
        ];
        state.last_ts = [
            Some(ago(12, 4_321_987)),
            Some(ago(2, 33_333)),
            Some(ago(9, 999_999)),
            Some(ago(1, 123_456)),
        ];
        state.orders_total = 9;
        state.revenue_cents = 61_470;
        state.events_total = 87;
        state.order_days = [
            (340, 4_999, 0),
            (250, 12_990, 1),
            (180, 2_450, 0),
            (95, 8_999, 1),
            (40, 15_900, 0),
            (12, 6_132, 0),
        ]
        .iter()
        .map(|&(days, cents, coupons)| DayBucket {
            day: today - days,
            counts: [1, cents, coupons],
        })
        .collect();
        state.activity_days = [88, 75, 60, 44, 31, 30, 22, 15, 9, 5, 2, 1]
            .iter()
            .enumerate()
            .map(|(i, &days)| DayBucket {
                day: today - days,
                counts: [(i % 2) as i64, (i % 3 == 0) as i64, 1 + (i % 2) as i64],
            })
            .collect();
        state.clock = state.last_ts[3];
        state.changed_at = state.last_ts[ORDER];
        state.next_deadline = Some(state.last_ts[ORDER].unwrap() + 30 * DAY_MS);
        state.counters = [
            keys(&[("web", 6), ("store", 3)]),
            keys(&[("shoes", 4), ("beauty", 3), ("home", 1), ("books", 2)]),
            keys(&[("evening", 5), ("morning", 4)]),
        ];
        state.counter_order = vec![0, 1, 2];
        state.recent_ids = (0..8)
            .map(|i| id_hash(&format!("0b9c5e1a-7f3d-4c2b-9a1e-{i:012}")))
            .collect();
        let decided = [
            text("active"),
            text("medium"),
            Scalar::Bool(false),
            text("low"),
            text("active"),
            Scalar::Bool(false),
            text("stable"),
            text("potential_loyalist"),
            Scalar::Bool(false),
            text("evening"),
            text("web"),
            text("shoes"),
        ];
        // The top families (the last 3) among the decided ones first: their values are literals.
        for slot in (0..12).rev().take(tags.min(3)).chain(0..tags.saturating_sub(3)) {
            state.tags[slot] = Some(decided[slot].clone());
        }
        state
    }

    fn roundtrip(state: &CustomerState, tables: &TagTables) -> Vec<u8> {
        let raw = encode(state, tables);
        assert_eq!(raw[0], VERSION);
        let back = decode(C, &raw, tables).unwrap();
        assert_eq!(&back, state);
        for (a, b) in back.tags.iter().zip(&state.tags) {
            if let (Some(Scalar::Float(a)), Some(Scalar::Float(b))) = (a, b) {
                assert_eq!(a.to_bits(), b.to_bits());
            }
        }
        assert_eq!(encode(&back, tables), raw, "encoding is deterministic");
        assert_eq!(decode_wake(C, &raw).unwrap(), state.wake_time());
        raw
    }

    #[test]
    fn a_rich_state_round_trips_exactly() {
        let tables = rich_tables();
        let state = rich_state();
        roundtrip(&state, &tables);
        // The table's 0.0 is not -0.0, nor the table's "true" true.
        let raw = encode(&state, &tables);
        let back = decode(C, &raw, &tables).unwrap();
        assert_eq!(back.tags[6], Some(Scalar::Float(-0.0)));
        assert!(matches!(back.tags[6], Some(Scalar::Float(zero)) if zero.is_sign_negative()));

        let mut odd = state.clone();
        odd.counter_order = vec![0, 0, 1, 1];
        odd.pending.clear();
        odd.tags[7] = Some(Scalar::Float(f64::INFINITY));
        roundtrip(&odd, &tables);
        odd.counter_order.clear();
        odd.counters[1] = Counter::default();
        roundtrip(&odd, &tables);
    }

    #[test]
    fn empty_and_sparse_states_round_trip() {
        let tables = default_pack();
        let empty = CustomerState::new(12);
        let raw = roundtrip(&empty, &tables);
        assert_eq!(raw.len(), 30, "{raw:?}");
        let mut only_pending = CustomerState::new(12);
        only_pending.buffer(event("a", 1, 5, 0, None, &[]));
        only_pending.buffer(event("b", 1, 3, 0, None, &[]));
        roundtrip(&only_pending, &tables);
        let mut one_order = only_pending.clone();
        one_order.pending.clear();
        one_order.first_ts[ORDER] = Some(1_700_000_000_000);
        one_order.last_ts[ORDER] = Some(1_700_000_000_000);
        one_order.counter(1).count("x");
        one_order.tags[11] = Some(text("x"));
        roundtrip(&one_order, &tables);
        assert_eq!(roundtrip(&CustomerState::new(0), &TagTables::default()).len(), 18);
    }

    #[test]
    fn a_state_written_under_an_earlier_rule_pack_is_read_through_its_tables_by_family_name() {
        let old = default_pack();
        let mut state = typical_state(12);
        state.tags[0] = Some(old.values[0][1].clone());
        let raw = encode(&state, &old);
        // The new pack drops the first family, reorders the second's values, adds one at the end.
        let mut families = old.families[1..].to_vec();
        let mut values = old.values[1..].to_vec();
        values[0].reverse();
        families.push("brand_new".to_owned());
        values.push(vec![text("x")]);
        let new = TagTables::new(families, values);
        assert_ne!(new.fingerprint, old.fingerprint);
        let error = decode("c1", &raw, &new).expect_err("unknown tables");
        assert!(error.contains("tag tables") && error.contains("'c1'"), "{error}");
        let back = decode_known("c1", &raw, &new, std::slice::from_ref(&old)).expect("decodes");
        let mut expected = state.tags[1..].to_vec();
        expected.push(None);
        assert_eq!(back.tags, expected);
        assert_eq!(back.orders_total, state.orders_total);
        let again = decode("c1", &encode(&back, &new), &new).expect("rewritten under the new tables");
        assert_eq!(again.tags, expected);
        assert_eq!(TagTables::from_json(&new.to_json()).expect("reads its own JSON"), new);
    }

    #[test]
    fn dwell_stamps_round_trip_and_move_with_their_family() {
        let old = default_pack();
        let mut state = typical_state(12);
        state.set_since(3, state.clock.unwrap() - 5 * DAY_MS);
        state.set_since(11, i64::MIN);
        let raw = roundtrip(&state, &old);
        // The count, per stamp its slot (1 byte) and its distance from the base: 5 days 5 bytes,
        // i64::MIN 10.
        assert_eq!(raw.len(), encode(&typical_state(12), &old).len() + 1 + 1 + 5 + 1 + 10);
        let new = TagTables::new(old.families[1..].to_vec(), old.values[1..].to_vec());
        let back = decode_known(C, &raw, &new, std::slice::from_ref(&old)).expect("decodes");
        assert_eq!(back.since(2), state.since(3));
        assert_eq!(back.since(10), Some(i64::MIN));
        assert_eq!(back.tag_since.iter().flatten().count(), 2);
        let mut past_the_last = raw.clone();
        let at = past_the_last.len() - 10 - 1; // the slot of the second stamp
        past_the_last[at] = 12;
        assert!(decode(C, &past_the_last, &old)
            .unwrap_err()
            .contains("dwell stamp for tag slot 12"));
    }

    #[test]
    fn property_entries_and_the_feeds_of_pending_events_round_trip() {
        let tables = default_pack();
        let mut state = typical_state(12);
        let today = state.clock.unwrap().div_euclid(DAY_MS);
        state.props = vec![
            PropEntry {
                metric: 0,
                day: 0,
                key: None,
                value: 12_345,
            },
            PropEntry {
                metric: 2,
                day: today - 3,
                key: Some("/models/suv".into()),
                value: 2,
            },
            PropEntry {
                metric: 2,
                day: today,
                key: Some("/models/suv".into()),
                value: 1,
            },
        ];
        state.buffer(event("p1", 3, state.clock.unwrap() + 5, 0, None, &[]));
        state.buffer(event("p2", 3, state.clock.unwrap() + 9, 0, None, &[]));
        state.pending[1].feeds = vec![
            Feed {
                metric: 2,
                key: Some("/models/suv".into()),
                amount: 1,
            },
            Feed {
                metric: 1,
                key: None,
                amount: -250,
            },
        ];
        let raw = roundtrip(&state, &tables);
        let plain = encode(&typical_state(12), &tables).len();
        println!("3 property entries and 2 feeds: {} bytes more", raw.len() - plain);
        assert!(raw.len() - plain < 60);
    }

    #[test]
    fn traits_and_the_trait_updates_of_pending_profiles_round_trip() {
        let tables = default_pack();
        let mut state = typical_state(12);
        state.traits = vec![
            ("birth_date".into(), text("1990-06-15")),
            ("email_consent".into(), Scalar::Bool(true)),
            ("employees".into(), Scalar::Float(12.5)),
            ("region".into(), text("home")),
        ];
        state.buffer(event("p1", PROFILE, state.clock.unwrap() + 5, 0, None, &[]));
        state.buffer(event("p2", 5, state.clock.unwrap() + 9, 0, None, &[]));
        state.pending[0].traits = vec![("region".into(), Some(text("home"))), ("email_consent".into(), None)];
        let raw = roundtrip(&state, &tables);
        let plain = encode(&typical_state(12), &tables).len();
        println!("4 traits and a pending profile: {} bytes more", raw.len() - plain);
        assert!(raw.len() - plain < 120);
    }

    #[test]
    fn a_version_2_state_reads_as_one_without_dwell_stamps() {
        let tables = default_pack();
        let state = typical_state(12);
        let mut raw = encode(&state, &tables);
        assert_eq!(
            raw.pop(),
            Some(0),
            "no dwell stamps, property entries or feeds: one byte"
        );
        raw[0] = VERSION_2;
        assert_eq!(decode(C, &raw, &tables).unwrap(), state);
        assert_eq!(decode_wake(C, &raw).unwrap(), state.wake_time());
    }

    #[test]
    fn a_typical_customer_fits_in_250_bytes() {
        let tables = default_pack();
        let typical = typical_state(8);
        let size = roundtrip(&typical, &tables).len();
        let all_tags = roundtrip(&typical_state(12), &tables).len();
        // The Python engine wrote 1,124 bytes for this customer (UUID event ids), 3,308 with 64 ids.
        println!("typical customer: {size} bytes with 8 of 12 tags decided, {all_tags} with all 12");
        assert!(size <= 250, "{size} bytes");
        assert_eq!(all_tags, size, "an unset tag slot costs a byte too");

        let mut more = typical.clone();
        more.recent_ids.push(id_hash("one more"));
        let per_id = encode(&more, &tables).len() - size;
        let mut more = typical.clone();
        let last = *more.activity_days.last().unwrap();
        more.activity_days.push(DayBucket {
            day: last.day + 1,
            counts: [1, 0, 2],
        });
        let per_activity = encode(&more, &tables).len() - size;
        let mut more = typical.clone();
        more.order_days.push(DayBucket {
            day: last.day + 1,
            counts: [1, 4_250, 0],
        });
        let per_order = encode(&more, &tables).len() - size;
        let mut full = typical.clone();
        full.recent_ids = (0..64).map(|i| id_hash(&i.to_string())).collect();
        let full = roundtrip(&full, &tables).len();
        println!(
            "+1 recent id: {per_id} bytes, +1 activity day: {per_activity}, +1 order day: {per_order}; 64 ids: {full}"
        );
        assert_eq!(per_id, 8);
        assert_eq!(per_activity, 2);
        assert!(per_order <= 5);
    }

    /// Written by the Python engine's `encode_state` (orjson, compact) for the state built in
    /// `version_1_json_is_read_as_the_python_engine_wrote_it`.
    const V1_SAMPLE: &str = concat!(
        r#"[1,[1700000000000,null,1700000300000,-5],[1700500000000,null,1700000300000,1700600000000],"#,
        r#"3,12999,17,[19675,1,4999,0,19680,2,8000,1],[19676,1,0,0,19681,0,2,1],1700500000000,"#,
        r#"{"category":{"shoes":2,"home":1},"channel":{"web":3}},["e1","é2"],"#,
        r#"{"lifecycle":"active","vip":true,"gone_family":"x","top_category":"shoes","score":1.5,"big":18446744073709551615},"#,
        r#"[["e9","click",1700600000123,0,false,null,[]],["e8 ✓","order",1700600000500,2500,true,"web",["books","ø"]]],"#,
        r#"1700600000000,1702000000000,2,1700500000000]"#
    );

    fn v1_tables() -> TagTables {
        let mut tables = default_pack();
        for name in ["score", "big"] {
            tables.families.push(name.to_owned());
            tables.values.push(vec![]);
        }
        tables
    }

    #[test]
    fn version_1_json_is_read_as_the_python_engine_wrote_it() {
        let tables = v1_tables();
        let state = decode(C, V1_SAMPLE.as_bytes(), &tables).unwrap();
        let mut expected = CustomerState::new(14);
        expected.first_ts = [Some(1_700_000_000_000), None, Some(1_700_000_300_000), Some(-5)];
        expected.last_ts = [
            Some(1_700_500_000_000),
            None,
            Some(1_700_000_300_000),
            Some(1_700_600_000_000),
        ];
        expected.orders_total = 3;
        expected.revenue_cents = 12_999;
        expected.events_total = 17;
        expected.order_days = vec![
            DayBucket {
                day: 19_675,
                counts: [1, 4_999, 0],
            },
            DayBucket {
                day: 19_680,
                counts: [2, 8_000, 1],
            },
        ];
        expected.activity_days = vec![
            DayBucket {
                day: 19_676,
                counts: [1, 0, 0],
            },
            DayBucket {
                day: 19_681,
                counts: [0, 2, 1],
            },
        ];
        expected.reactivated_at = Some(1_700_500_000_000);
        expected.counters[1] = keys(&[("shoes", 2), ("home", 1)]);
        expected.counters[0] = keys(&[("web", 3)]);
        expected.counter_order = vec![1, 0];
        expected.recent_ids = vec![id_hash("e1"), id_hash("é2")];
        expected.tags[0] = Some(text("active"));
        expected.tags[2] = Some(Scalar::Bool(true));
        expected.tags[11] = Some(text("shoes"));
        expected.tags[12] = Some(Scalar::Float(1.5));
        expected.tags[13] = Some(Scalar::UInt(u64::MAX));
        expected.pending = vec![
            PendingEvent {
                id_hash: id_hash("e9"),
                event_id: "e9".into(),
                kind: 2,
                ts: 1_700_600_000_123,
                amount_cents: 0,
                coupon: false,
                channel: None,
                categories: vec![],
                feeds: vec![],
                traits: vec![],
            },
            PendingEvent {
                id_hash: id_hash("e8 ✓"),
                event_id: "e8 ✓".into(),
                kind: ORDER,
                ts: 1_700_600_000_500,
                amount_cents: 2_500,
                coupon: true,
                channel: Some("web".into()),
                categories: vec!["books".into(), "ø".into()],
                feeds: vec![],
                traits: vec![],
            },
        ];
        expected.clock = Some(1_700_600_000_000);
        expected.next_deadline = Some(1_702_000_000_000);
        expected.late_events = 2;
        expected.changed_at = Some(1_700_500_000_000);
        assert_eq!(state, expected);
        assert_eq!(decode_wake(C, V1_SAMPLE.as_bytes()).unwrap(), Some(1_700_600_000_124));
        assert_eq!(decode_wake(C, V1_SAMPLE.as_bytes()).unwrap(), state.wake_time());
        // The upgrade: rewritten as version 2, it reads back the same.
        let raw = roundtrip(&state, &tables);
        println!(
            "version-1 sample: {} bytes as JSON, {} as version 2",
            V1_SAMPLE.len(),
            raw.len()
        );

        let empty = b"[1,[null,null,null,null],[null,null,null,null],0,0,0,[],[],null,{},[],{},[],null,null,0,null]";
        assert_eq!(decode(C, empty, &tables).unwrap(), CustomerState::new(14));
        assert_eq!(decode_wake(C, empty).unwrap(), None);
    }

    #[test]
    fn wake_time_is_read_from_either_format() {
        let tables = default_pack();
        let mut state = typical_state(12);
        for (deadline, pending) in [
            (None, vec![]),
            (Some(50), vec![]),
            (None, vec![7]),
            (Some(50), vec![7, 9]),
            (Some(5), vec![7]),
            (Some(8), vec![7]),
        ] {
            state.next_deadline = deadline;
            state.pending = pending
                .iter()
                .map(|&ts| event(&format!("p{ts}"), 1, ts, 0, None, &[]))
                .collect();
            let raw = encode(&state, &tables);
            assert_eq!(decode_wake(C, &raw).unwrap(), state.wake_time());
            let pending_json: Vec<String> = pending
                .iter()
                .map(|ts| format!(r#"["p{ts}","email_open",{ts},0,false,null,[]]"#))
                .collect();
            let json = format!(
                "[1,[null,null,null,null],[null,null,null,null],0,0,0,[],[],null,{{}},[],{{}},[{}],null,{},0,null]",
                pending_json.join(","),
                deadline.map_or("null".to_owned(), |d| d.to_string())
            );
            assert_eq!(decode_wake(C, json.as_bytes()).unwrap(), state.wake_time(), "{json}");
            assert_eq!(
                decode(C, json.as_bytes(), &tables).unwrap().wake_time(),
                state.wake_time()
            );
        }
    }

    #[test]
    fn errors_name_the_customer_and_the_problem() {
        let tables = default_pack();
        let raw = encode(&typical_state(8), &tables);
        let mut fewer = tables.clone();
        fewer.values.pop();
        fewer.families.pop();
        assert_eq!(
            decode(C, &raw, &fewer).unwrap_err(),
            "customer 'c1': state written for 12 families, this rule pack has 11"
        );
        assert_eq!(
            decode(C, &[7, 1, 2], &tables).unwrap_err(),
            "customer 'c1': unknown state format 7"
        );
        assert_eq!(
            decode_wake("c'2", &[7]).unwrap_err(),
            "customer \"c'2\": unknown state format 7"
        );
        assert_eq!(
            decode(C, &[], &tables).unwrap_err(),
            "customer 'c1': state bytes are empty"
        );
        assert_eq!(
            decode(C, &raw[..17], &tables).unwrap_err(),
            "customer 'c1': state bytes end early at byte 17"
        );
        let mut longer = raw.clone();
        longer.push(0);
        assert_eq!(
            decode(C, &longer, &tables).unwrap_err(),
            "customer 'c1': 1 bytes after the end of the state"
        );
        let v2 = V1_SAMPLE.replacen("[1,", "[2,", 1);
        assert_eq!(
            decode(C, v2.as_bytes(), &tables).unwrap_err(),
            "customer 'c1': state format 2 is not 1"
        );
        assert_eq!(
            decode_wake(C, v2.as_bytes()).unwrap_err(),
            "customer 'c1': state format 2 is not 1"
        );
        let unknown_type = V1_SAMPLE.replace("\"click\"", "\"tap\"");
        assert!(decode(C, unknown_type.as_bytes(), &tables)
            .unwrap_err()
            .starts_with("customer 'c1': version-1 pending event ['e9', 'tap'"));
        for message in [
            decode(C, b"[1,2", &tables).unwrap_err(),
            decode_wake(C, b"[1,2").unwrap_err(),
        ] {
            assert!(message.starts_with("customer 'c1': state is not valid"), "{message}");
            assert!(!message.contains('\n'));
        }
    }

    /// xorshift64*: deterministic noise without a dependency.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn survives(raw: &[u8], tables: &TagTables) -> bool {
        let full = decode(C, raw, tables);
        let wake = decode_wake(C, raw);
        if let Err(message) = &full {
            assert!(
                message.starts_with("customer 'c1': ") && !message.contains('\n'),
                "{message}"
            );
        }
        if let Ok(state) = &full {
            assert_eq!(wake.as_ref().ok(), Some(&state.wake_time()));
        }
        full.is_ok()
    }

    #[test]
    fn garbage_and_truncated_bytes_are_errors_never_panics() {
        let tables = rich_tables();
        let rich = encode(&rich_state(), &tables);
        let pack = default_pack();
        let typical = encode(&typical_state(12), &pack);
        for at in 0..rich.len() {
            assert!(!survives(&rich[..at], &tables), "prefix of {at} bytes");
        }
        for at in 0..typical.len() {
            assert!(!survives(&typical[..at], &pack));
        }
        for at in 0..V1_SAMPLE.len() {
            assert!(!survives(&V1_SAMPLE.as_bytes()[..at], &v1_tables()));
        }
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            // Flipped bits in a valid state, then random bytes after a valid version byte.
            let mut raw = if round % 2 == 0 { rich.clone() } else { typical.clone() };
            for _ in 0..1 + noise.next() % 4 {
                let at = (noise.next() % raw.len() as u64) as usize;
                raw[at] ^= 1 << (noise.next() % 8);
            }
            survives(&raw, if round % 2 == 0 { &tables } else { &pack });
            let length = (noise.next() % 80) as usize;
            let mut raw: Vec<u8> = (0..length).map(|_| noise.next() as u8).collect();
            if let Some(first) = raw.first_mut() {
                *first = [VERSION, b'['][round % 2];
            }
            survives(&raw, &tables);
            let mut json = V1_SAMPLE.as_bytes().to_vec();
            let at = (noise.next() % json.len() as u64) as usize;
            json[at] = b"[]{},:0-\"nu1e."[(noise.next() % 14) as usize];
            survives(&json, &v1_tables());
        }
    }
}
