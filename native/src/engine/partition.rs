//! One partition: its watermark over the input topics, its customers, and
//! an index of when each next needs attention, so advancing time touches only customers due.

use super::audiences::Audiences;
use super::codec::{decode, decode_known, decode_wake, encode, written_with, TagTables};
use super::plan::Plan;
use super::state::{CustomerState, PendingEvent, CUSTOM, PROFILE, SOURCES};
use super::timeline::Context;
use crate::decode::EVENT_TYPES;
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

pub const NEVER: i64 = -(1 << 62);
/// A `caught_up` bit per source, all set.
const ALL_SOURCES: u8 = (1 << SOURCES) - 1;
/// What an offline run (a time-ordered log, or arrival within the lateness bound) says of the
/// profile and custom sources: caught up. Their events cannot arrive late there, and a log without
/// them (most) must not have time held back by a source that never delivers. A worker instead
/// waits for every topic that still has records, profiles included: a backlog is read at
/// different paces per topic.
pub const OFFLINE_CAUGHT_UP: u8 = (1 << PROFILE) | (1 << CUSTOM);
/// How near the wall clock a live event is (see `Partition::live_arrival`).
pub const LIVE_HORIZON_MS: i64 = 60_000;
pub const LIVE_AHEAD_MS: i64 = 10_000;

/// A partition's event-time watermark, merged over its input topics:
/// the slowest topic with records left decides, minus the allowed lateness; never backwards.
#[derive(Debug, Clone)]
pub struct Watermark {
    pub lateness_ms: i64,
    pub newest: [Option<i64>; SOURCES],
    pub value: i64,
}

impl Watermark {
    pub fn new(lateness_ms: i64) -> Self {
        Watermark {
            lateness_ms,
            newest: [None; SOURCES],
            value: NEVER,
        }
    }

    pub fn observe(&mut self, source: usize, ts: i64) {
        if self.newest[source].is_none_or(|newest| ts > newest) {
            self.newest[source] = Some(ts);
        }
    }

    /// `caught_up`: a bit per source with nothing left to deliver.
    pub fn advance(&mut self, caught_up: u8) -> i64 {
        let lagging = (0..SOURCES)
            .filter(|s| caught_up & (1 << s) == 0)
            .map(|s| self.newest[s].unwrap_or(NEVER))
            .min();
        let horizon = match lagging {
            Some(horizon) => horizon,
            None => match self.newest.iter().flatten().max() {
                Some(newest) => *newest,
                None => return self.value,
            },
        };
        if horizon != NEVER && horizon - self.lateness_ms > self.value {
            self.value = horizon - self.lateness_ms;
        }
        self.value
    }

    /// The stored form, `{"newest": {type: ms}, "value": ms}` (as every version has written it).
    pub fn to_json(&self) -> Vec<u8> {
        let newest: serde_json::Map<String, serde_json::Value> = EVENT_TYPES
            .iter()
            .zip(self.newest)
            .filter_map(|(kind, ts)| ts.map(|ts| ((*kind).to_owned(), ts.into())))
            .collect();
        serde_json::to_vec(&serde_json::json!({"newest": newest, "value": self.value})).expect("plain JSON")
    }

    /// Restore from `to_json`'s form; sources this build does not know are ignored.
    pub fn restore(&mut self, raw: &[u8]) -> Result<(), String> {
        let saved: serde_json::Value =
            serde_json::from_slice(raw).map_err(|error| format!("unreadable watermark: {error}"))?;
        let newest = saved.get("newest").and_then(serde_json::Value::as_object);
        for (source, kind) in EVENT_TYPES.iter().enumerate() {
            self.newest[source] = newest
                .and_then(|newest| newest.get(*kind))
                .and_then(serde_json::Value::as_i64);
        }
        self.value = saved.get("value").and_then(serde_json::Value::as_i64).unwrap_or(NEVER);
        Ok(())
    }

    pub fn tick(&mut self, wall_clock_ms: i64, caught_up: u8) -> i64 {
        self.advance(caught_up);
        // Every source caught up: bits beyond the sources (which `advance` ignores) must not
        // make `0xFF` mean "not all of them".
        if caught_up & ALL_SOURCES == ALL_SOURCES {
            self.value = self.value.max(wall_clock_ms - self.lateness_ms);
        }
        self.value
    }
}

/// What ingesting one event did, for the caller's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Late,
}

/// A customer's slot: its id and state. Slots never move, so the wake heap holds slot numbers.
pub struct Slot {
    pub customer_id: Box<str>,
    form: Form,
}

/// How a customer's state is held. A compact partition (the worker's) keeps customers it is not
/// working on as their stored bytes (state format 3, written with the partition's tag tables,
/// ~350 bytes) and decodes one when an event or a deadline needs it (~1-2 µs): the decoded form
/// takes ten times the memory.
enum Form {
    Decoded(Box<CustomerState>),
    Stored(Box<[u8]>),
}

impl Slot {
    fn has_pending(&self) -> bool {
        match &self.form {
            Form::Decoded(state) => !state.pending.is_empty(),
            Form::Stored(_) => false, // only a customer with nothing buffered is stored
        }
    }

    fn wake_time(&self) -> Option<i64> {
        match &self.form {
            Form::Decoded(state) => state.wake_time(),
            Form::Stored(raw) => decode_wake(&self.customer_id, raw).expect(STORED_READS),
        }
    }

    fn state(&self, tables: &TagTables) -> Cow<'_, CustomerState> {
        match &self.form {
            Form::Decoded(state) => Cow::Borrowed(state),
            Form::Stored(raw) => Cow::Owned(decode(&self.customer_id, raw, tables).expect(STORED_READS)),
        }
    }

    /// The id and the decoded state, decoding it first if it is stored.
    fn thaw(&mut self, tables: &TagTables) -> (&str, &mut CustomerState) {
        if let Form::Stored(raw) = &self.form {
            let state = decode(&self.customer_id, raw, tables).expect(STORED_READS);
            self.form = Form::Decoded(Box::new(state));
        }
        match &mut self.form {
            Form::Decoded(state) => (&self.customer_id, state),
            Form::Stored(_) => unreachable!("decoded above"),
        }
    }
}

/// Stored bytes in a slot were written by `encode` or checked by a full decode on restore.
const STORED_READS: &str = "a customer's stored state, checked when it was loaded, no longer decodes";

pub struct Partition {
    pub watermark: Watermark,
    /// The rule pack's tag tables, which stored slots are written with.
    tables: Arc<TagTables>,
    /// Keep customers as stored bytes once written out (`take_writes`).
    compact: bool,
    index: HashMap<Box<str>, u32>,
    slots: Vec<Slot>,
    /// Heap of (wake time, slot); an entry whose time is no longer the slot's `wake_of` is stale.
    wakes: BinaryHeap<Reverse<(i64, u32)>>,
    wake_of: Vec<Option<i64>>,
    scheduled: usize,
    /// Slots changed since the last `take_writes`, each once (the worker writes them to its table).
    dirty: Vec<u32>,
    is_dirty: Vec<bool>,
    /// The watermark (value or newest times) changed since the last `take_writes`.
    pub watermark_dirty: bool,
    /// Slots that had an event buffered since the last live release (`release_live`); may repeat
    /// and may have nothing buffered any more, checked on use.
    buffered: Vec<u32>,
    /// Customers per family value (kept only by an engine that records transitions: the worker's).
    pub audiences: Audiences,
}

impl Partition {
    pub fn new(plan: &Plan, tables: Arc<TagTables>, compact: bool) -> Self {
        Partition {
            watermark: Watermark::new(plan.lateness_ms),
            tables,
            compact,
            index: HashMap::new(),
            slots: Vec::new(),
            wakes: BinaryHeap::new(),
            wake_of: Vec::new(),
            scheduled: 0,
            dirty: Vec::new(),
            is_dirty: Vec::new(),
            audiences: Audiences::default(),
            watermark_dirty: false,
            buffered: Vec::new(),
        }
    }

    /// Forget every customer and the watermark (a revoked partition, or one about to be restored).
    pub fn clear(&mut self, plan: &Plan) {
        *self = Partition::new(plan, Arc::clone(&self.tables), self.compact);
    }

    fn mark(&mut self, slot: u32) {
        if !self.is_dirty[slot as usize] {
            self.is_dirty[slot as usize] = true;
            self.dirty.push(slot);
        }
    }

    /// The customers changed since the last call as stored bytes, in the order first changed,
    /// and whether the watermark changed: what the worker writes after a batch. A compact
    /// partition keeps each written customer with nothing buffered as those bytes from now on.
    pub fn take_writes(&mut self) -> (Vec<(&str, Vec<u8>)>, bool) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut written = Vec::with_capacity(dirty.len());
        for &slot in &dirty {
            self.is_dirty[slot as usize] = false;
            let target = &mut self.slots[slot as usize];
            let raw = match &target.form {
                Form::Decoded(state) => encode(state, &self.tables),
                Form::Stored(raw) => raw.to_vec(),
            };
            if self.compact && !target.has_pending() {
                target.form = Form::Stored(raw.clone().into_boxed_slice());
            }
            written.push(raw);
        }
        let watermark = std::mem::replace(&mut self.watermark_dirty, false);
        let slots = &self.slots;
        let changed = dirty
            .into_iter()
            .zip(written)
            .map(|(slot, raw)| (&*slots[slot as usize].customer_id, raw))
            .collect();
        (changed, watermark)
    }

    /// Customers with work scheduled.
    pub fn scheduled(&self) -> usize {
        self.scheduled
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn get(&self, customer_id: &str) -> Option<Cow<'_, CustomerState>> {
        self.index
            .get(customer_id)
            .map(|slot| self.slots[*slot as usize].state(&self.tables))
    }

    /// A customer's stored form (state format 3): the bytes it is kept as, or its state encoded.
    pub fn stored(&self, customer_id: &str) -> Option<Cow<'_, [u8]>> {
        self.index
            .get(customer_id)
            .map(|slot| match &self.slots[*slot as usize].form {
                Form::Decoded(state) => Cow::Owned(encode(state, &self.tables)),
                Form::Stored(raw) => Cow::Borrowed(&raw[..]),
            })
    }

    pub fn customer_ids(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|slot| &*slot.customer_id)
    }

    pub fn customers(&self) -> impl Iterator<Item = (&str, Cow<'_, CustomerState>)> {
        self.slots
            .iter()
            .map(|slot| (&*slot.customer_id, slot.state(&self.tables)))
    }

    fn slot_of(&mut self, customer_id: &str, families: usize) -> u32 {
        if let Some(slot) = self.index.get(customer_id) {
            return *slot;
        }
        let slot = self.slots.len() as u32;
        self.slots.push(Slot {
            customer_id: customer_id.into(),
            form: Form::Decoded(Box::new(CustomerState::new(families))),
        });
        self.wake_of.push(None);
        self.is_dirty.push(false);
        self.index.insert(customer_id.into(), slot);
        slot
    }

    /// Put a stored customer in (replacing any state it had); call `rebuild_index` after a batch.
    pub fn put(&mut self, customer_id: &str, state: CustomerState) {
        let slot = self.slot_of(customer_id, state.tags.len());
        self.slots[slot as usize].form = Form::Decoded(Box::new(state));
    }

    /// Put a customer in from its stored bytes (call `rebuild_index` after a batch): read in full
    /// (with the tables it names: the current pack's or `earlier` ones), so a damaged state is
    /// refused here, with its reason, never later. A compact partition keeps the bytes themselves
    /// when they name the current tables, and the state rewritten with them otherwise.
    pub fn put_stored(&mut self, customer_id: &str, raw: Vec<u8>, earlier: &[TagTables]) -> Result<(), String> {
        let state = decode_known(customer_id, &raw, &self.tables, earlier)?;
        // Counted here, from the decoding the load does anyway (a second pass would decode again).
        if let Some(replaced) = self.get(customer_id).map(Cow::into_owned) {
            self.audiences.count(&replaced, -1);
        }
        self.audiences.count(&state, 1);
        if !self.compact || !state.pending.is_empty() {
            self.put(customer_id, state);
            return Ok(());
        }
        let raw = if written_with(&raw) == Some(self.tables.fingerprint) {
            raw
        } else {
            encode(&state, &self.tables)
        };
        let slot = self.slot_of(customer_id, state.tags.len());
        self.slots[slot as usize].form = Form::Stored(raw.into_boxed_slice());
        Ok(())
    }

    /// Accept one event from topic `source`, then run everything the watermark now allows.
    /// `immediate`: a live event, applied on arrival (see `stream.backtest.Arrival`).
    pub fn ingest(
        &mut self,
        cx: &mut Context,
        customer_id: &str,
        event: PendingEvent,
        immediate: bool,
        caught_up: u8,
    ) -> Outcome {
        let slot = self.slot_of(customer_id, cx.plan.families.len());
        let watermark = self.watermark.value;
        // Saved after every event, as the newest time of its source is part of the watermark
        // (`agents/driver.py`).
        self.watermark_dirty = true;
        let (customer_id, state) = self.slots[slot as usize].thaw(&self.tables);
        if state.has_seen(&event.event_id, event.id_hash) {
            // A copy still shows how far its topic has been read: after a crash the saved
            // watermark can predate the saved state, and the re-read events are all copies.
            self.watermark.observe(event.kind, event.ts);
            let watermark = self.watermark.advance(caught_up);
            self.advance_to(cx, watermark, false);
            return Outcome::Duplicate;
        }
        let (source, ts) = (event.kind, event.ts);
        let late = state.clock.is_some_and(|clock| ts < clock) || (!immediate && ts < watermark);
        if late {
            cx.apply_late(customer_id, state, &event, watermark);
        } else {
            state.buffer(event);
            if immediate {
                cx.advance(customer_id, state, ts, true);
            }
        }
        let buffered = !state.pending.is_empty();
        let wake = state.wake_time();
        self.mark(slot);
        self.schedule(slot, wake);
        if buffered {
            self.note_buffered(slot);
        }
        self.watermark.observe(source, ts);
        let watermark = self.watermark.advance(caught_up);
        self.advance_to(cx, watermark, false);
        if late {
            Outcome::Late
        } else {
            Outcome::Applied
        }
    }

    /// The live clock's choice for one event : true = immediate.
    pub fn live_arrival(&self, event_ts: i64, wall_clock_ms: i64) -> bool {
        let lateness = self.watermark.lateness_ms;
        let horizon = lateness.max(LIVE_HORIZON_MS);
        let live = wall_clock_ms - horizon <= event_ts && event_ts <= wall_clock_ms + LIVE_AHEAD_MS;
        live && self.watermark.value + lateness >= event_ts - horizon
    }

    pub fn refresh(&mut self, cx: &mut Context, caught_up: u8) {
        let before = self.watermark.value;
        let watermark = self.watermark.advance(caught_up);
        self.watermark_dirty |= watermark != before;
        self.advance_to(cx, watermark, false);
    }

    /// Live mode: real time has reached `wall_clock_ms`. With every source caught up (no
    /// backlog left), buffered events near the wall clock are released too (`release_live`).
    pub fn tick(&mut self, cx: &mut Context, wall_clock_ms: i64, caught_up: u8) {
        let before = self.watermark.value;
        let watermark = self.watermark.tick(wall_clock_ms, caught_up);
        self.watermark_dirty |= watermark != before;
        self.advance_to(cx, watermark, false);
        if caught_up & ALL_SOURCES == ALL_SOURCES {
            self.release_live(cx, wall_clock_ms);
        }
    }

    /// Every source is caught up, so the backlog (an outage's, a restart's) has been read whole:
    /// its events near the wall clock are applied now, as live events are (each customer's own
    /// deadlines up to them first), instead of waiting the lateness bound for the watermark. Only
    /// deadlines keep waiting for the watermark. Events further ahead than `LIVE_AHEAD_MS` wait
    /// for their time.
    fn release_live(&mut self, cx: &mut Context, wall_clock_ms: i64) {
        if self.buffered.is_empty() {
            return;
        }
        let latest = wall_clock_ms.saturating_add(LIVE_AHEAD_MS);
        let mut slots = std::mem::take(&mut self.buffered);
        let by_id = &self.slots;
        slots.sort_unstable_by(|a, b| by_id[*a as usize].customer_id.cmp(&by_id[*b as usize].customer_id));
        slots.dedup();
        for slot in slots {
            if !self.slots[slot as usize].has_pending() {
                continue; // released meanwhile, and maybe stored again: decoding it would leave it decoded
            }
            let (customer_id, state) = self.slots[slot as usize].thaw(&self.tables);
            let until = state
                .pending
                .iter()
                .map(|event| event.ts)
                .take_while(|ts| *ts <= latest)
                .last();
            if let Some(until) = until {
                cx.advance(customer_id, state, until, true);
            }
            let (still_buffered, wake) = (!state.pending.is_empty(), state.wake_time());
            if until.is_some() {
                self.mark(slot);
                self.schedule(slot, wake);
            }
            if still_buffered {
                self.buffered.push(slot);
            }
        }
    }

    /// Remember a slot with buffered events for `release_live`. Without live ticks (event time,
    /// `backtest`) nothing drains the list, so it is compacted whenever it outgrows the slots.
    fn note_buffered(&mut self, slot: u32) {
        self.buffered.push(slot);
        if self.buffered.len() > 2 * self.slots.len() + 64 {
            let slots = &self.slots;
            self.buffered.sort_unstable();
            self.buffered.dedup();
            self.buffered.retain(|slot| slots[*slot as usize].has_pending());
        }
    }

    /// End of a finite log: apply everything up to and including `as_of`.
    pub fn finish(&mut self, cx: &mut Context, as_of: i64) {
        self.watermark.value = self.watermark.value.max(as_of);
        self.advance_to(cx, as_of, true);
    }

    /// Fire due deadlines and release buffered events, customer by customer, in (wake time,
    /// customer id) order, as the Python engine's heap popped them: the order changes are written in.
    pub fn advance_to(&mut self, cx: &mut Context, watermark: i64, inclusive: bool) {
        let limit = if inclusive { watermark + 1 } else { watermark };
        let mut due = Vec::new();
        while self.wakes.peek().is_some_and(|Reverse((wake, _))| *wake <= limit) {
            let Reverse((wake, slot)) = self.wakes.pop().expect("peeked");
            if self.wake_of[slot as usize] == Some(wake) {
                self.wake_of[slot as usize] = None;
                self.scheduled -= 1;
                due.push((wake, slot));
            } // else superseded by a later schedule
        }
        if due.len() > 1 {
            let slots = &self.slots;
            due.sort_unstable_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| slots[a.1 as usize].customer_id.cmp(&slots[b.1 as usize].customer_id))
            });
        }
        for &(_, slot) in &due {
            let (customer_id, state) = self.slots[slot as usize].thaw(&self.tables);
            cx.advance(customer_id, state, watermark, inclusive);
        }
        // Rescheduled only now: with `inclusive`, a deadline at watermark + 1 has the same wake
        // as an event at the watermark but is not due, and would be popped again forever.
        for (_, slot) in due {
            let wake = self.slots[slot as usize].wake_time();
            self.mark(slot);
            self.schedule(slot, wake);
        }
    }

    fn schedule(&mut self, slot: u32, wake: Option<i64>) {
        let current = &mut self.wake_of[slot as usize];
        if *current == wake {
            return;
        }
        match (*current, wake) {
            (None, Some(_)) => self.scheduled += 1,
            (Some(_), None) => self.scheduled -= 1,
            _ => {}
        }
        *current = wake;
        if let Some(wake) = wake {
            self.wakes.push(Reverse((wake, slot)));
        }
    }

    /// Forget a customer entirely (an erase request): its state, buffered events, deadline and
    /// pending write; false if it was not here. The last slot moves into the freed one, so the
    /// slot numbers held elsewhere are renumbered and the deadline heap is rebuilt (erasures are
    /// rare; this costs a pass over the partition's wake times).
    pub fn erase(&mut self, customer_id: &str) -> bool {
        let Some(slot) = self.index.remove(customer_id) else {
            return false;
        };
        let last = (self.slots.len() - 1) as u32;
        let renumber = |numbers: &mut Vec<u32>| {
            numbers.retain(|number| *number != slot);
            numbers
                .iter_mut()
                .filter(|number| **number == last)
                .for_each(|number| *number = slot);
        };
        renumber(&mut self.dirty);
        renumber(&mut self.buffered);
        self.slots.swap_remove(slot as usize);
        self.wake_of.swap_remove(slot as usize);
        self.is_dirty.swap_remove(slot as usize);
        if slot != last {
            let moved = &self.slots[slot as usize].customer_id;
            *self.index.get_mut(moved).expect("every slot is indexed") = slot;
        }
        self.wakes = (self.wake_of.iter().enumerate())
            .filter_map(|(slot, wake)| wake.map(|wake| Reverse((wake, slot as u32))))
            .collect::<Vec<_>>()
            .into();
        self.scheduled = self.wakes.len();
        true
    }

    /// After a restart: index every customer once from its stored state.
    pub fn rebuild_index(&mut self) {
        self.wakes.clear();
        self.wake_of.iter_mut().for_each(|wake| *wake = None);
        self.scheduled = 0;
        self.buffered.clear();
        for slot in 0..self.slots.len() {
            let wake = self.slots[slot].wake_time();
            self.schedule(slot as u32, wake);
            if self.slots[slot].has_pending() {
                self.buffered.push(slot as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_with_every_source_caught_up_follows_the_wall_clock_whatever_the_extra_bits() {
        for caught_up in [0b11_1111, 0xFF] {
            let mut watermark = Watermark::new(1_000);
            watermark.observe(0, 5_000);
            assert_eq!(watermark.tick(100_000, caught_up), 99_000, "{caught_up:#b}");
        }
        let mut watermark = Watermark::new(1_000);
        watermark.observe(0, 5_000);
        assert_eq!(
            watermark.tick(100_000, 0b11_0111),
            NEVER,
            "a source with records left holds time"
        );
    }

    #[test]
    fn offline_the_profile_and_custom_sources_never_hold_time_back() {
        let mut watermark = Watermark::new(1_000);
        for source in 0..4 {
            watermark.observe(source, 5_000);
        }
        assert_eq!(
            watermark.advance(0),
            NEVER,
            "a worker waits for a topic it has not heard from"
        );
        assert_eq!(watermark.advance(OFFLINE_CAUGHT_UP), 4_000);
        watermark.observe(PROFILE, 2_000);
        assert_eq!(watermark.advance(OFFLINE_CAUGHT_UP), 4_000);
    }
}
