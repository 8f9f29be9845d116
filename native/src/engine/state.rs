//! One customer's state: everything the rules need, kept compact.
//!
//! Day buckets are sorted vectors, not maps: a customer has at most a few hundred, and a scan of
//! a contiguous vector is what every metric computation does anyway. Recent event ids are kept as
//! 64-bit hashes (`id_hash`): the dedup window only ever asks "seen before?".

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;

/// Event types in `schemas.events.EVENT_TYPES` order: the index used everywhere below.
pub const ORDER: usize = 0;
/// The activity types (order, email_open, click, visit): each has first/last timestamps (recency)
/// and counts in the day windows. The types after them are not activity.
pub const TYPES: usize = 4;
/// A profile event: sets and unsets the customer's traits.
pub const PROFILE: usize = 4;
/// A custom event: a name and properties, read by property metrics only.
pub const CUSTOM: usize = 5;
/// Every input type, one topic each: the watermark's sources (`EVENT_TYPES.len()`).
pub const SOURCES: usize = 6;
/// Counters are capped so a customer buying from 5,000 categories cannot grow state without bound.
pub const MAX_COUNTER_KEYS: usize = 32;

/// The counters a `top` family can read, in `stream.rules.ruleset.COUNTERS` order.
pub const COUNTER_NAMES: [&str; 3] = ["channel", "category", "hour_band"];

/// A buffered event: all an event contributes, kept until the watermark releases it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    pub event_id: String,
    /// `id_hash(event_id)`, computed once: the dedup window keeps it when the event is applied.
    pub id_hash: u64,
    pub kind: usize,
    pub ts: i64,
    pub amount_cents: i64,
    pub coupon: bool,
    pub channel: Option<String>,
    pub categories: Vec<String>,
    /// What it contributes to the pack's property metrics (`engine::properties::feeds`).
    pub feeds: Vec<Feed>,
    /// A profile event's trait updates, the pack's traits only (`engine::traits::updates`).
    pub traits: Vec<TraitUpdate>,
}

/// A trait set to a value (text, bool, number, or a date as "YYYY-MM-DD") or unset (None).
pub type TraitUpdate = (Box<str>, Option<Scalar>);

/// One event's contribution to one property metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    /// Index into `Plan::property_metrics`.
    pub metric: u16,
    /// The text counted by `distinct` and `top`.
    pub key: Option<Box<str>>,
    /// 1 for a count (and a text), hundredths for a sum.
    pub amount: i64,
}

/// A property metric's total for one day (day 0 for a metric over the whole history) and text.
#[derive(Debug, Clone, PartialEq)]
pub struct PropEntry {
    pub metric: u16,
    pub day: i64,
    pub key: Option<Box<str>>,
    pub value: i64,
}

/// One UTC day's counts: orders [orders, revenue cents, coupon orders] or activity [opens, clicks, visits].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayBucket {
    pub day: i64,
    pub counts: [i64; 3],
}

/// A bounded counter, keys in first-seen order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Counter {
    pub keys: Vec<(String, i64)>,
}

impl Counter {
    /// Increment `key`; once full, unseen keys are ignored (the top keys are kept).
    pub fn count(&mut self, key: &str) {
        if let Some(entry) = self.keys.iter_mut().find(|(known, _)| known == key) {
            entry.1 += 1;
        } else if self.keys.len() < MAX_COUNTER_KEYS {
            self.keys.push((key.to_owned(), 1));
        }
    }
}

/// A tag value (`TagValue`) or a metric value: the JSON scalars a change carries.
pub use crate::jsonfmt::Scalar;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerState {
    pub first_ts: [Option<i64>; TYPES],
    pub last_ts: [Option<i64>; TYPES],
    pub orders_total: i64,
    pub revenue_cents: i64,
    pub events_total: i64,
    pub order_days: Vec<DayBucket>,
    pub activity_days: Vec<DayBucket>,
    pub reactivated_at: Option<i64>,
    /// Indexed like `COUNTER_NAMES`; `counter_order` keeps the names' first-use order.
    pub counters: [Counter; 3],
    pub counter_order: Vec<u8>,
    pub recent_ids: Vec<u64>,
    /// One slot per family of the pack, in the pack's order; None: never decided.
    pub tags: Vec<Option<Scalar>>,
    /// Sorted by (ts, event_id): the order they will be applied in.
    pub pending: Vec<PendingEvent>,
    pub clock: Option<i64>,
    pub next_deadline: Option<i64>,
    pub late_events: i64,
    pub changed_at: Option<i64>,
    /// Per family slot, when a family with a minimum dwell time last changed; empty until one
    /// does (most packs have none, and an empty vector costs no heap).
    pub tag_since: Vec<Option<i64>>,
    /// Property metric entries, sorted by (metric, day, key).
    pub props: Vec<PropEntry>,
    /// The customer's traits by name (sorted), as the last profile events set them. Kept by
    /// name, not by the pack's position, so a pack edit cannot make a stored trait another.
    pub traits: Vec<(Box<str>, Scalar)>,
}

impl CustomerState {
    pub fn new(families: usize) -> Self {
        CustomerState {
            tags: vec![None; families],
            ..Default::default()
        }
    }

    /// The lowest watermark at which this customer has work.
    pub fn wake_time(&self) -> Option<i64> {
        wake_time(self.next_deadline, self.pending.first().map(|event| event.ts))
    }

    pub fn has_seen(&self, event_id: &str, hash: u64) -> bool {
        self.recent_ids.contains(&hash)
            || self
                .pending
                .iter()
                .any(|event| event.id_hash == hash && event.event_id == event_id)
    }

    /// When the family in `slot` last changed, if it has a minimum dwell time.
    pub fn since(&self, slot: usize) -> Option<i64> {
        self.tag_since.get(slot).copied().flatten()
    }

    pub fn set_since(&mut self, slot: usize, at: i64) {
        if self.tag_since.len() <= slot {
            self.tag_since.resize(self.tags.len().max(slot + 1), None);
        }
        self.tag_since[slot] = Some(at);
    }

    pub fn counter(&mut self, index: usize) -> &mut Counter {
        if !self.counter_order.contains(&(index as u8)) {
            self.counter_order.push(index as u8);
        }
        &mut self.counters[index]
    }

    /// Insert keeping (ts, event_id) order, after equal keys.
    pub fn buffer(&mut self, event: PendingEvent) {
        let mut index = self.pending.len();
        while index > 0 && (self.pending[index - 1].ts, &self.pending[index - 1].event_id) > (event.ts, &event.event_id)
        {
            index -= 1;
        }
        self.pending.insert(index, event);
    }
}

pub fn wake_time(next_deadline: Option<i64>, first_pending_ts: Option<i64>) -> Option<i64> {
    match (first_pending_ts, next_deadline) {
        (None, deadline) => deadline,
        // Saturating: a stored state is read from bytes, and damaged bytes can hold any ts.
        (Some(ts), None) => Some(ts.saturating_add(1)),
        (Some(ts), Some(deadline)) => Some(ts.saturating_add(1).min(deadline)),
    }
}

/// The 64-bit form of an event id kept in the dedup window: blake2b-64, stable across builds and
/// machines (a changelog written by one worker is read by another), and not steerable by a
/// producer the way a plain FNV would be.
pub fn id_hash(event_id: &str) -> u64 {
    let mut hasher = Blake2bVar::new(8).expect("8 is a valid blake2b digest length");
    hasher.update(event_id.as_bytes());
    let mut digest = [0u8; 8];
    hasher
        .finalize_variable(&mut digest)
        .expect("the buffer has the digest length");
    u64::from_le_bytes(digest)
}

/// Add `counts` to the bucket of `day`, creating it in order.
pub fn add_to_bucket(buckets: &mut Vec<DayBucket>, day: i64, counts: [i64; 3]) {
    match buckets.binary_search_by_key(&day, |bucket| bucket.day) {
        Ok(at) => {
            for (total, add) in buckets[at].counts.iter_mut().zip(counts) {
                *total += add;
            }
        }
        Err(at) => buckets.insert(at, DayBucket { day, counts }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_events_stay_in_ts_then_id_order() {
        let mut state = CustomerState::new(0);
        for (id, ts) in [("b", 5), ("a", 5), ("c", 1), ("a", 9)] {
            state.buffer(PendingEvent {
                event_id: id.into(),
                id_hash: id_hash(id),
                kind: 1,
                ts,
                amount_cents: 0,
                coupon: false,
                channel: None,
                categories: vec![],
                feeds: vec![],
                traits: vec![],
            });
        }
        let order: Vec<_> = state.pending.iter().map(|e| (e.ts, e.event_id.as_str())).collect();
        assert_eq!(order, [(1, "c"), (5, "a"), (5, "b"), (9, "a")]);
    }

    #[test]
    fn a_full_counter_ignores_new_keys_but_counts_known_ones() {
        let mut counter = Counter::default();
        for i in 0..40 {
            counter.count(&format!("k{i}"));
        }
        counter.count("k0");
        assert_eq!(counter.keys.len(), MAX_COUNTER_KEYS);
        assert_eq!(counter.keys[0], ("k0".into(), 2));
    }

    #[test]
    fn buckets_merge_by_day_and_stay_sorted() {
        let mut buckets = vec![];
        add_to_bucket(&mut buckets, 5, [1, 100, 0]);
        add_to_bucket(&mut buckets, 2, [1, 50, 1]);
        add_to_bucket(&mut buckets, 5, [1, 10, 0]);
        assert_eq!(
            buckets,
            [
                DayBucket {
                    day: 2,
                    counts: [1, 50, 1]
                },
                DayBucket {
                    day: 5,
                    counts: [2, 110, 0]
                }
            ]
        );
    }
}
