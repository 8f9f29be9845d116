//! One customer's timeline: apply events, let time pass, evaluate rules,
//! report what changed. Everything happens at an explicit instant of event time.

use super::metrics::{changing_at, compute, dwell_end, next_change, Need, DAY_MS};
use super::plan::{Family, Kind, Plan};
use super::properties;
use super::state::{add_to_bucket, CustomerState, PendingEvent, ORDER, PROFILE, TYPES};
use super::traits;
use crate::changes::{ChangeRef, Metrics, Text};
use crate::jsonfmt::Scalar;
use std::borrow::Cow;

/// Scratch buffers reused across evaluations, so the hot path allocates only for changes.
#[derive(Default)]
pub struct Scratch {
    metrics: Vec<Scalar>,
    changing: Vec<usize>,
    families: Vec<usize>,
    selected: Vec<bool>,
}

/// Per selection of families (first evaluation, each event type), what computing their reads
/// takes; and each family's own need, for the selections made at a deadline.
pub struct Selections {
    all: (Vec<usize>, Need),
    by_trigger: Vec<(Vec<usize>, Need)>,
    of_family: Vec<Need>,
}

impl Selections {
    pub fn new(plan: &Plan) -> Self {
        let of_family: Vec<Need> = plan
            .families
            .iter()
            .map(|family| Need::of(plan, family.reads.iter().copied()))
            .collect();
        let need = |families: &[usize]| {
            families
                .iter()
                .fold(Need::default(), |need, f| need.union(of_family[*f]))
        };
        let all: Vec<usize> = (0..plan.families.len()).collect();
        Selections {
            all: (all.clone(), need(&all)),
            by_trigger: plan
                .by_trigger
                .iter()
                .map(|families| (families.clone(), need(families)))
                .collect(),
            of_family,
        }
    }
}

fn bucket_alive(state: &CustomerState, day: i64, retention_days: i64) -> bool {
    state
        .clock
        .is_none_or(|clock| day > clock.div_euclid(DAY_MS) - retention_days)
}

/// Fold one event into the totals, windows and counters.
pub fn apply_event(plan: &Plan, state: &mut CustomerState, event: &PendingEvent) {
    let (kind, ts) = (event.kind, event.ts);
    if kind < TYPES {
        apply_activity(plan, state, event);
    } else if kind == PROFILE {
        traits::apply(state, &event.traits);
    }
    if !event.feeds.is_empty() {
        properties::apply(plan, state, &event.feeds, ts.div_euclid(DAY_MS));
    }
    // Oldest out before the newest goes in: the vector never outgrows the window (a push onto a
    // full one would double its capacity for good).
    if state.recent_ids.len() >= plan.dedup_ids {
        let excess = state.recent_ids.len() + 1 - plan.dedup_ids;
        state.recent_ids.drain(..excess);
    }
    state.recent_ids.push(event.id_hash);
}

/// An order, open, click or visit: recency, totals and day windows (profile and custom events
/// are not activity).
fn apply_activity(plan: &Plan, state: &mut CustomerState, event: &PendingEvent) {
    let (kind, ts) = (event.kind, event.ts);
    let previous_last = state.last_ts[kind];
    if state.first_ts[kind].is_none_or(|first| ts < first) {
        state.first_ts[kind] = Some(ts);
    }
    if previous_last.is_none_or(|last| ts > last) {
        state.last_ts[kind] = Some(ts);
    }
    state.events_total += 1;
    let day = ts.div_euclid(DAY_MS);
    if kind == ORDER {
        apply_order(plan, state, event, day, previous_last);
    } else if bucket_alive(state, day, plan.activity_retention_days) {
        let mut counts = [0; 3];
        counts[kind - 1] = 1;
        add_to_bucket(&mut state.activity_days, day, counts);
    }
}

fn apply_order(plan: &Plan, state: &mut CustomerState, event: &PendingEvent, day: i64, previous: Option<i64>) {
    state.orders_total += 1;
    state.revenue_cents += event.amount_cents;
    if let Some(previous) = previous {
        if event.ts >= previous && (event.ts - previous).div_euclid(DAY_MS) >= plan.reactivation_gap_days {
            state.reactivated_at = Some(event.ts);
        }
    }
    if bucket_alive(state, day, plan.order_retention_days) {
        add_to_bucket(&mut state.order_days, day, [1, event.amount_cents, event.coupon as i64]);
    }
    if let Some(channel) = event.channel.as_deref().filter(|channel| !channel.is_empty()) {
        state.counter(0).count(channel);
    }
    for category in &event.categories {
        state.counter(1).count(category);
    }
    // The first band holding the hour decides; a band named "" (TOML allows the key) counts
    // nothing, as Python's `if band:` skips it.
    if let Some(band) = plan.hour_band(event.ts.rem_euclid(DAY_MS) / 3_600_000) {
        let name = &plan.hour_bands[band].0;
        if !name.is_empty() {
            state.counter(2).count(name);
        }
    }
}

/// A family's value at these metrics (`current` is its value now, which a case's `stay` keeps),
/// borrowed from the plan where it comes from there, and the rule that gave it (a JSON string
/// literal).
fn decide<'a>(
    family: &'a Family,
    metrics: &[Scalar],
    state: &CustomerState,
    current: Option<&Scalar>,
) -> (Cow<'a, Scalar>, &'a [u8]) {
    let default = || (Cow::Borrowed(&family.default), DEFAULT_RULE);
    match &family.kind {
        Kind::Cases(cases) => {
            for case in cases {
                if case.condition.holds(metrics) {
                    return (Cow::Borrowed(&case.value), case.rule.as_slice());
                }
                if let Some((rule, stay)) = &case.stay {
                    if current == Some(&case.value) && stay.holds(metrics) {
                        return (Cow::Borrowed(&case.value), rule.as_slice());
                    }
                }
            }
            default()
        }
        Kind::Top {
            counter,
            min_count,
            rule,
        } => {
            let mut best: Option<(&str, i64)> = None;
            for (key, seen) in &state.counters[*counter].keys {
                if best.is_none_or(|(top, hits)| *seen > hits || (*seen == hits && key.as_str() < top)) {
                    best = Some((key, *seen));
                }
            }
            match best {
                Some((key, hits)) if hits >= *min_count => (Cow::Owned(Scalar::Str(key.to_owned())), rule.as_slice()),
                _ => default(),
            }
        }
        Kind::Value { metric, rule } => match &metrics[*metric] {
            Scalar::Null => default(),
            value => (Cow::Owned(value.clone()), rule.as_slice()),
        },
        Kind::Grid(grid) => match (&metrics[family.reads[0]], &metrics[family.reads[3]]) {
            (Scalar::Int(r @ 1..=5), Scalar::Int(fm @ 1..=5)) => {
                let (value, rule) = &grid[(5 - r) as usize][(fm - 1) as usize];
                (Cow::Borrowed(value), rule.as_slice())
            }
            _ => default(),
        },
    }
}

const DEFAULT_RULE: &[u8] = b"\"default\"";

/// Where tag changes go: CloudEvent JSON lines (what `backtest` writes and the worker sends) and,
/// when asked for, (family, from, to) transitions (what `whatif` counts).
#[derive(Default)]
pub struct Output {
    pub json: Option<Vec<u8>>,
    pub transitions: Option<Vec<(usize, Scalar, Scalar)>>,
    /// Per JSON line, its length (newline included) and customer: the Kafka record key the
    /// worker sends it with.
    pub keys: Option<Vec<(usize, Box<str>)>>,
    pub count: usize,
    /// A change whose instant is outside the years 1–9999 has no RFC 3339 form.
    pub unwritable: Option<i64>,
}

impl Output {
    fn record(&mut self, change: &ChangeRef, family: usize) {
        self.count += 1;
        if let Some(json) = &mut self.json {
            let start = json.len();
            if change.write_json(json) {
                json.push(b'\n');
                if let Some(keys) = &mut self.keys {
                    keys.push((json.len() - start, change.customer_id.into()));
                }
            } else {
                self.unwritable.get_or_insert(change.at);
            }
        }
        if let Some(transitions) = &mut self.transitions {
            transitions.push((family, change.old.clone(), change.new.clone()));
        }
    }
}

pub struct Context<'a> {
    pub plan: &'a Plan,
    pub selections: &'a Selections,
    pub scratch: &'a mut Scratch,
    pub out: &'a mut Output,
}

impl Context<'_> {
    /// Re-decide, at `now`, the families that can have changed.
    pub fn evaluate(
        &mut self,
        customer_id: &str,
        state: &mut CustomerState,
        now: i64,
        cause: Option<&str>,
        trigger: Option<usize>,
    ) {
        let plan = self.plan;
        if state.clock.is_none_or(|clock| now > clock) {
            state.clock = Some(now);
        }
        let scratch = &mut *self.scratch;
        let need = if state.tags.iter().any(Option::is_none) {
            scratch.families.clone_from(&self.selections.all.0);
            self.selections.all.1
        } else if let Some(kind) = trigger {
            let (families, need) = &self.selections.by_trigger[kind];
            scratch.families.clone_from(families);
            *need
        } else {
            changing_at(plan, state, now, &mut scratch.changing);
            select_at_deadline(plan, state, now, scratch);
            prune(plan, state, now);
            let of_family = &self.selections.of_family;
            scratch
                .families
                .iter()
                .fold(Need::default(), |need, f| need.union(of_family[*f]))
        };
        compute(plan, state, now, need, &mut scratch.metrics);
        let before = self.out.count;
        for &index in &scratch.families {
            let family = &plan.families[index];
            if state.tags[index].is_some() && dwell_end(plan, state, index).is_some_and(|end| now < end) {
                continue;
            }
            let (value, rule) = decide(family, &scratch.metrics, state, state.tags[index].as_ref());
            if state.tags[index].as_ref() == Some(value.as_ref()) {
                continue;
            }
            let previous = state.tags[index].replace(value.into_owned());
            if let Some(metric) = family.tag_metric {
                scratch.metrics[metric].clone_from(state.tags[index].as_ref().expect("just set"));
            }
            // A dwell follows a change of value; a customer's first value may change at once.
            if family.min_dwell_ms > 0 && previous.is_some() {
                state.set_since(index, now);
            }
            let old = previous.unwrap_or(Scalar::Null);
            let change = ChangeRef {
                customer_id,
                family: Text::Quoted(&family.name_json),
                old: &old,
                new: state.tags[index].as_ref().expect("just set"),
                at: now,
                rule: Text::Quoted(rule),
                cause_event_id: cause,
                metrics: Metrics::Keyed {
                    keys: &plan.metric_keys,
                    ids: &family.sorted_reads,
                    values: &scratch.metrics,
                },
            };
            self.out.record(&change, index);
        }
        if self.out.count > before {
            state.changed_at = Some(now);
        }
        state.next_deadline = next_change(plan, state, now);
    }

    /// Replay the customer's due work in event-time order: buffered events strictly before the
    /// watermark (at it too, with `inclusive`) and deadlines at or before it, a deadline first
    /// when both fall on the same instant.
    pub fn advance(&mut self, customer_id: &str, state: &mut CustomerState, watermark: i64, inclusive: bool) {
        let event_limit = if inclusive { watermark + 1 } else { watermark };
        loop {
            let deadline = state.next_deadline.filter(|deadline| *deadline <= watermark);
            let event_ts = state
                .pending
                .first()
                .map(|event| event.ts)
                .filter(|ts| *ts < event_limit);
            match (deadline, event_ts) {
                (Some(deadline), event) if event.is_none_or(|ts| deadline <= ts) => {
                    self.evaluate(customer_id, state, deadline, None, None);
                }
                (_, Some(_)) => {
                    let event = state.pending.remove(0);
                    apply_event(self.plan, state, &event);
                    self.evaluate(customer_id, state, event.ts, Some(&event.event_id), Some(event.kind));
                }
                _ => return,
            }
        }
    }

    /// An event older than the watermark or its customer's clock: catch the customer up to the
    /// watermark, fold the event in, evaluate at the watermark (or the customer's later clock).
    pub fn apply_late(&mut self, customer_id: &str, state: &mut CustomerState, event: &PendingEvent, watermark: i64) {
        self.advance(customer_id, state, watermark, false);
        state.late_events += 1;
        apply_event(self.plan, state, event);
        let now = state.clock.map_or(watermark, |clock| clock.max(watermark));
        self.evaluate(customer_id, state, now, Some(&event.event_id), Some(event.kind));
    }
}

/// The families to re-decide at a deadline, in the plan's (dependency) order: those reading a
/// metric that changes at `now`, those whose minimum dwell ends at `now`, and those reading the
/// tag of a family already selected.
fn select_at_deadline(plan: &Plan, state: &CustomerState, now: i64, scratch: &mut Scratch) {
    let Scratch {
        changing,
        families,
        selected,
        ..
    } = scratch;
    families.clear();
    selected.clear();
    for (index, family) in plan.families.iter().enumerate() {
        let pick = family.reads.iter().any(|read| changing.contains(read))
            || (family.min_dwell_ms > 0 && dwell_end(plan, state, index) == Some(now))
            || family.depends_on.iter().any(|dependency| selected[*dependency]);
        selected.push(pick);
        if pick {
            families.push(index);
        }
    }
}

fn prune(plan: &Plan, state: &mut CustomerState, now: i64) {
    let today = now.div_euclid(DAY_MS);
    state
        .order_days
        .retain(|bucket| bucket.day > today - plan.order_retention_days);
    state
        .activity_days
        .retain(|bucket| bucket.day > today - plan.activity_retention_days);
    properties::prune(plan, state, today);
}
