//! One partition (`stream/engine.py`): its watermark over the input topics, its customers, and
//! an index of when each next needs attention, so advancing time touches only customers due.

use super::plan::Plan;
use super::state::{id_hash, CustomerState, PendingEvent, TYPES};
use super::timeline::Context;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

pub const NEVER: i64 = -(1 << 62);
/// See `stream.engine.LIVE_HORIZON_MS` / `LIVE_AHEAD_MS`.
pub const LIVE_HORIZON_MS: i64 = 60_000;
pub const LIVE_AHEAD_MS: i64 = 10_000;

/// A partition's event-time watermark, merged over its input topics (`stream/watermark.py`):
/// the slowest topic with records left decides, minus the allowed lateness; never backwards.
#[derive(Debug, Clone)]
pub struct Watermark {
    pub lateness_ms: i64,
    pub newest: [Option<i64>; TYPES],
    pub value: i64,
}

impl Watermark {
    pub fn new(lateness_ms: i64) -> Self {
        Watermark {
            lateness_ms,
            newest: [None; TYPES],
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
        let lagging = (0..TYPES)
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

    pub fn tick(&mut self, wall_clock_ms: i64, caught_up: u8) -> i64 {
        self.advance(caught_up);
        if caught_up.count_ones() as usize == TYPES {
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

pub struct Partition {
    pub watermark: Watermark,
    pub customers: HashMap<String, CustomerState>,
    wakes: BinaryHeap<Reverse<(i64, String)>>,
    wake_of: HashMap<String, i64>,
}

impl Partition {
    pub fn new(plan: &Plan) -> Self {
        Partition {
            watermark: Watermark::new(plan.lateness_ms),
            customers: HashMap::new(),
            wakes: BinaryHeap::new(),
            wake_of: HashMap::new(),
        }
    }

    pub fn scheduled(&self) -> usize {
        self.wake_of.len()
    }

    /// Accept one event from topic `source`, then run everything the watermark now allows.
    /// `immediate`: a live event, applied on arrival (see `stream.engine.Arrival`).
    pub fn ingest(
        &mut self,
        cx: &mut Context,
        customer_id: &str,
        event: PendingEvent,
        immediate: bool,
        caught_up: u8,
    ) -> Outcome {
        let families = cx.plan.families.len();
        let state = self
            .customers
            .entry(customer_id.to_owned())
            .or_insert_with(|| CustomerState::new(families));
        let hash = id_hash(&event.event_id);
        if state.has_seen(&event.event_id, hash) {
            return Outcome::Duplicate;
        }
        let (source, ts) = (event.kind, event.ts);
        let late = state.clock.is_some_and(|clock| ts < clock) || (!immediate && ts < self.watermark.value);
        if late {
            cx.apply_late(customer_id, state, &event, hash, self.watermark.value);
        } else {
            state.buffer(event);
            if immediate {
                cx.advance(customer_id, state, ts, true);
            }
        }
        let wake = state.wake_time();
        self.schedule(customer_id, wake);
        self.watermark.observe(source, ts);
        let watermark = self.watermark.advance(caught_up);
        self.advance_to(cx, watermark, false);
        if late {
            Outcome::Late
        } else {
            Outcome::Applied
        }
    }

    /// The live clock's choice for one event (`PartitionEngine.live_arrival`): true = immediate.
    pub fn live_arrival(&self, event_ts: i64, wall_clock_ms: i64) -> bool {
        let lateness = self.watermark.lateness_ms;
        let horizon = lateness.max(LIVE_HORIZON_MS);
        let live = wall_clock_ms - horizon <= event_ts && event_ts <= wall_clock_ms + LIVE_AHEAD_MS;
        live && self.watermark.value + lateness >= event_ts - horizon
    }

    pub fn refresh(&mut self, cx: &mut Context, caught_up: u8) {
        let watermark = self.watermark.advance(caught_up);
        self.advance_to(cx, watermark, false);
    }

    pub fn tick(&mut self, cx: &mut Context, wall_clock_ms: i64, caught_up: u8) {
        let watermark = self.watermark.tick(wall_clock_ms, caught_up);
        self.advance_to(cx, watermark, false);
    }

    /// End of a finite log: apply everything up to and including `as_of`.
    pub fn finish(&mut self, cx: &mut Context, as_of: i64) {
        self.watermark.value = self.watermark.value.max(as_of);
        self.advance_to(cx, as_of, true);
    }

    /// Fire due deadlines and release buffered events, customer by customer.
    pub fn advance_to(&mut self, cx: &mut Context, watermark: i64, inclusive: bool) {
        let limit = if inclusive { watermark + 1 } else { watermark };
        let mut done = Vec::new();
        while self.wakes.peek().is_some_and(|Reverse((wake, _))| *wake <= limit) {
            let Reverse((wake, customer_id)) = self.wakes.pop().expect("peeked");
            if self.wake_of.get(&customer_id) != Some(&wake) {
                continue; // superseded by a later schedule
            }
            self.wake_of.remove(&customer_id);
            if let Some(state) = self.customers.get_mut(&customer_id) {
                cx.advance(&customer_id, state, watermark, inclusive);
                done.push(customer_id);
            }
        }
        // Rescheduled only now: with `inclusive`, a deadline at watermark + 1 has the same wake
        // as an event at the watermark but is not due, and would be popped again forever.
        for customer_id in done {
            let wake = self.customers[&customer_id].wake_time();
            self.schedule(&customer_id, wake);
        }
    }

    pub fn schedule(&mut self, customer_id: &str, wake: Option<i64>) {
        match wake {
            None => {
                self.wake_of.remove(customer_id);
            }
            Some(wake) => {
                if self.wake_of.get(customer_id) != Some(&wake) {
                    self.wake_of.insert(customer_id.to_owned(), wake);
                    self.wakes.push(Reverse((wake, customer_id.to_owned())));
                }
            }
        }
    }

    /// After a restart: index every customer once from its stored state.
    pub fn rebuild_index(&mut self) {
        self.wakes.clear();
        self.wake_of.clear();
        let wakes: Vec<(String, Option<i64>)> = self
            .customers
            .iter()
            .map(|(id, state)| (id.clone(), state.wake_time()))
            .collect();
        for (customer_id, wake) in wakes {
            self.schedule(&customer_id, wake);
        }
    }
}
