//! Metrics at one instant, and when they next change by themselves (`stream/metrics.py`).
//!
//! `compute` fills one slot per metric id of the plan. `next_change` answers the question that
//! makes deadlines cheap: after `now`, when can a metric some rule reads first change with no new
//! event? `changing_at` names the metrics that change exactly at a deadline just reached, so only
//! the families reading them are re-decided.

use super::plan::{Anchor, Lifetime, Plan, Window};
use super::properties;
use super::state::{CustomerState, DayBucket, ORDER};
use super::traits;
use crate::jsonfmt::Scalar;

pub const DAY_MS: i64 = 86_400_000;

/// Which bucket series (and whether the property metrics) the families being decided need
/// computed (the rest stays None).
#[derive(Debug, Clone, Copy, Default)]
pub struct Need {
    pub orders: bool,
    pub activity: bool,
    pub rfm: bool,
    pub properties: bool,
    /// `tag.<family>` values (cloned from the state: skipped when no family being decided reads one).
    pub tags: bool,
    /// `trait.<name>` and `age_years`.
    pub traits: bool,
}

impl Need {
    pub const ALL: Need = Need {
        orders: true,
        activity: true,
        rfm: true,
        properties: true,
        tags: true,
        traits: true,
    };

    pub fn union(self, other: Need) -> Need {
        Need {
            orders: self.orders | other.orders,
            activity: self.activity | other.activity,
            rfm: self.rfm | other.rfm,
            properties: self.properties | other.properties,
            tags: self.tags | other.tags,
            traits: self.traits | other.traits,
        }
    }

    /// What computing `reads` takes: their series, and both series for RFM scores (their inputs
    /// may be windows of either).
    pub fn of(plan: &Plan, reads: impl IntoIterator<Item = usize>) -> Need {
        let mut need = Need::default();
        for metric in reads {
            if let Some(window) = plan.windows.iter().find(|window| window.metric == metric) {
                need.orders |= window.orders;
                need.activity |= !window.orders;
            }
            need.properties |= plan.property_metrics.iter().any(|property| property.metric == metric);
            need.tags |= plan.tag_metrics.iter().any(|(tag, _)| *tag == metric);
            need.traits |= plan
                .trait_metrics
                .iter()
                .chain(&plan.age)
                .any(|(read, _)| *read == metric);
            if plan.rfm.as_ref().is_some_and(|rfm| rfm.scores.contains(&metric)) {
                need = Need::ALL;
            }
        }
        need
    }
}

pub fn anchor_of(state: &CustomerState, anchor: Anchor) -> Option<i64> {
    match anchor {
        Anchor::Last(Some(kind)) => state.last_ts[kind],
        Anchor::First(Some(kind)) => state.first_ts[kind],
        Anchor::Last(None) => state.last_ts.iter().flatten().copied().max(),
        Anchor::First(None) => state.first_ts.iter().flatten().copied().min(),
        Anchor::Reactivated => state.reactivated_at,
    }
}

fn window_sums(windows: &[Window], buckets: &[DayBucket], today: i64, metrics: &mut [Scalar]) {
    for window in windows {
        let low = if window.previous { window.days } else { 0 };
        let high = low.saturating_add(window.days);
        let mut sum = 0i64;
        for bucket in buckets {
            let age = today - bucket.day;
            if low <= age && age < high {
                sum += bucket.counts[window.field];
            }
        }
        metrics[window.metric] = if window.cents {
            Scalar::Float(sum as f64 / 100.0)
        } else {
            Scalar::Int(sum)
        };
    }
}

/// How many of the ascending `bounds` are <= `value` (Python's `bisect_right`).
fn bisect_right(bounds: &[f64], value: &Scalar) -> i64 {
    let value = match value {
        Scalar::Int(number) => *number as f64,
        Scalar::Float(number) => *number,
        _ => return 0,
    };
    bounds.iter().take_while(|bound| **bound <= value).count() as i64
}

/// Every metric of the plan at `now` (series not in `need` are left None).
pub fn compute(plan: &Plan, state: &CustomerState, now: i64, need: Need, metrics: &mut Vec<Scalar>) {
    metrics.clear();
    metrics.resize(plan.metrics.len(), Scalar::Null);
    let today = now.div_euclid(DAY_MS);
    let (order_windows, activity_windows) = (&plan.series_windows[0], &plan.series_windows[1]);
    if need.orders {
        window_sums(order_windows, &state.order_days, today, metrics);
    }
    if need.activity {
        window_sums(activity_windows, &state.activity_days, today, metrics);
    }
    for (metric, anchor) in &plan.recency {
        metrics[*metric] =
            anchor_of(state, *anchor).map_or(Scalar::Null, |at| Scalar::Int((now - at).div_euclid(DAY_MS)));
    }
    for (metric, kind) in &plan.lifetime {
        metrics[*metric] = match kind {
            Lifetime::Orders => Scalar::Int(state.orders_total),
            Lifetime::Revenue => Scalar::Float(state.revenue_cents as f64 / 100.0),
            Lifetime::Events => Scalar::Int(state.events_total),
        };
    }
    if let (Some(rfm), true) = (&plan.rfm, need.rfm) {
        if state.last_ts[ORDER].is_some() {
            let r = 5 - bisect_right(&rfm.recency_days, &metrics[rfm.days_since_last_order]);
            let f = 1 + bisect_right(&rfm.frequency, &metrics[rfm.frequency_metric]);
            let m = 1 + bisect_right(&rfm.monetary, &metrics[rfm.monetary_metric]);
            let fm = ((f + m) as f64 / 2.0 + 0.5).floor() as i64;
            for (slot, score) in rfm.scores.iter().zip([r, f, m, fm]) {
                metrics[*slot] = Scalar::Int(score);
            }
        }
    }
    if need.properties {
        properties::compute(plan, state, today, metrics);
    }
    if need.tags {
        for &(metric, family) in &plan.tag_metrics {
            metrics[metric] = state.tags.get(family).cloned().flatten().unwrap_or(Scalar::Null);
        }
    }
    if need.traits {
        traits::compute(plan, state, now, metrics);
    }
}

/// When the minimum dwell of `family` (its index) ends, if it has one and has changed.
pub fn dwell_end(plan: &Plan, state: &CustomerState, family: usize) -> Option<i64> {
    let since = state.since(family)?;
    Some(since.saturating_add(plan.families[family].min_dwell_ms))
}

fn earliest(best: &mut Option<i64>, at: i64) {
    if best.is_none_or(|current| at < current) {
        *best = Some(at);
    }
}

/// The first instant after `now` at which a metric some rule reads can change by itself.
pub fn next_change(plan: &Plan, state: &CustomerState, now: i64) -> Option<i64> {
    let mut best = None;
    for (_, anchor, steps) in &plan.recency_steps {
        if let (Some(at), false) = (anchor_of(state, *anchor), steps.is_empty()) {
            let age = (now - at).div_euclid(DAY_MS);
            if let Some(step) = steps.iter().find(|step| **step > age) {
                // A threshold of 1e15 days is accepted by the loader; Python's ints do not
                // overflow, and a deadline past i64 is never due, as i64::MAX is not.
                earliest(&mut best, at.saturating_add(step.saturating_mul(DAY_MS)));
            }
        }
    }
    if let Some(edge) = properties::next_edge(plan, state, now.div_euclid(DAY_MS)) {
        earliest(&mut best, edge);
    }
    if let Some(birthday) = traits::next_birthday(plan, state, now) {
        earliest(&mut best, birthday);
    }
    for &family in &plan.dwelling {
        if let Some(end) = dwell_end(plan, state, family).filter(|end| *end > now) {
            earliest(&mut best, end);
        }
    }
    let today = now.div_euclid(DAY_MS);
    for (edges, buckets) in plan.edges.iter().zip([&state.order_days, &state.activity_days]) {
        if edges.is_empty() {
            continue;
        }
        for bucket in buckets {
            let crossing = edges.iter().find(|(span, fields)| {
                bucket.day.saturating_add(*span) > today && fields.iter().any(|field| bucket.counts[*field] != 0)
            });
            if let Some((span, _)) = crossing {
                earliest(&mut best, bucket.day.saturating_add(*span).saturating_mul(DAY_MS));
            }
        }
    }
    best
}

/// Ids of the rule-read metrics that change at exactly `at` (a deadline just reached).
pub fn changing_at(plan: &Plan, state: &CustomerState, at: i64, names: &mut Vec<usize>) {
    names.clear();
    for (metric, anchor, steps) in &plan.recency_steps {
        if let Some(from) = anchor_of(state, *anchor) {
            let since = at - from;
            if since.rem_euclid(DAY_MS) == 0 && steps.contains(&since.div_euclid(DAY_MS)) {
                names.push(*metric);
            }
        }
    }
    if at.rem_euclid(DAY_MS) == 0 {
        let edge_day = at.div_euclid(DAY_MS);
        for window in &plan.deadline_windows {
            let buckets = if window.orders {
                &state.order_days
            } else {
                &state.activity_days
            };
            let spans: &[i64] = if window.previous {
                &[window.days, window.days.saturating_mul(2)]
            } else {
                &[window.days]
            };
            let crossed = spans
                .iter()
                .any(|span| buckets.binary_search_by_key(&(edge_day - span), |b| b.day).is_ok());
            if crossed {
                names.push(window.metric);
            }
        }
    }
    properties::changing_at(plan, state, at, names);
    traits::changing_at(plan, state, at, names);
    if let Some(rfm) = &plan.rfm {
        if names.iter().any(|name| plan.rfm_inputs.contains(name)) {
            names.extend(rfm.scores);
        }
    }
}

/// (days after a bucket's day at which it crosses an edge, the fields whose windows have that
/// edge), ascending, per series: a window of N days drops a bucket N days on, a previous-N window
/// takes it in then and drops it at 2N.
pub fn edges(windows: &[Window], orders: bool) -> Vec<(i64, Vec<usize>)> {
    let mut edges: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
    for window in windows.iter().filter(|window| window.orders == orders) {
        let spans: &[i64] = if window.previous {
            &[window.days, window.days.saturating_mul(2)]
        } else {
            &[window.days]
        };
        for span in spans {
            let fields = edges.entry(*span).or_default();
            if !fields.contains(&window.field) {
                fields.push(window.field);
            }
        }
    }
    edges.into_iter().collect()
}
