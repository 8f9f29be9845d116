//! The snapshot form of one customer (`stream.backtest.customer_record`), as the JSON bytes
//! `orjson.dumps(record)` writes: what an analyst and the Redis profile read.

use super::metrics::{compute, Need};
use super::plan::Plan;
use super::state::{CustomerState, ORDER};
use crate::jsonfmt::{write_str, Scalar};
use crate::timestamp::format_ts;

fn key(out: &mut Vec<u8>, name: &str) {
    write_str(out, name);
    out.push(b':');
}

fn optional_ts(out: &mut Vec<u8>, ts: Option<i64>) {
    match ts {
        Some(ts) => write_str(out, &format_ts(ts)),
        None => out.extend_from_slice(b"null"),
    }
}

fn metric(plan: &Plan, metrics: &[Scalar], name: &str) -> Scalar {
    plan.metrics
        .iter()
        .position(|known| known == name)
        .map_or(Scalar::Null, |id| metrics[id].clone())
}

/// One customer's record at `at` (moved up to the customer's own clock, as Python's
/// `max(at, state.clock or at)` does: a clock of exactly 0 counts as unset there).
pub fn customer_record(plan: &Plan, customer_id: &str, state: &CustomerState, at: i64) -> Vec<u8> {
    let at = at.max(state.clock.filter(|clock| *clock != 0).unwrap_or(at));
    let mut metrics = Vec::new();
    compute(plan, state, at, Need::ALL, &mut metrics);
    let mut out = Vec::with_capacity(512);
    out.push(b'{');
    key(&mut out, "customer_id");
    write_str(&mut out, customer_id);
    out.push(b',');
    key(&mut out, "as_of");
    write_str(&mut out, &format_ts(at));
    out.push(b',');
    key(&mut out, "orders_total");
    Scalar::Int(state.orders_total).write(&mut out);
    out.push(b',');
    key(&mut out, "revenue_total");
    Scalar::Float(state.revenue_cents as f64 / 100.0).write(&mut out);
    out.push(b',');
    key(&mut out, "events_total");
    Scalar::Int(state.events_total).write(&mut out);
    out.push(b',');
    key(&mut out, "first_order_at");
    optional_ts(&mut out, state.first_ts[ORDER]);
    out.push(b',');
    key(&mut out, "last_order_at");
    optional_ts(&mut out, state.last_ts[ORDER]);
    out.push(b',');
    key(&mut out, "days_since_last_order");
    metric(plan, &metrics, "days_since_last_order").write(&mut out);
    out.push(b',');
    key(&mut out, "windows");
    out.push(b'{');
    for (index, window) in plan.windows.iter().filter(|window| !window.previous).enumerate() {
        if index > 0 {
            out.push(b',');
        }
        key(&mut out, &plan.metrics[window.metric]);
        metrics[window.metric].write(&mut out);
    }
    out.extend_from_slice(b"},");
    key(&mut out, "rfm");
    out.push(b'{');
    for (index, score) in ["r", "f", "m"].iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        key(&mut out, score);
        metric(plan, &metrics, &format!("rfm_{score}")).write(&mut out);
    }
    out.extend_from_slice(b"},");
    key(&mut out, "updated_at");
    optional_ts(&mut out, state.changed_at);
    out.push(b',');
    key(&mut out, "tags");
    out.push(b'{');
    for (index, (name, value)) in sorted_tags(plan, state).into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        key(&mut out, name);
        value.write(&mut out);
    }
    out.extend_from_slice(b"},");
    key(&mut out, "pending_events");
    Scalar::Int(state.pending.len() as i64).write(&mut out);
    out.push(b',');
    key(&mut out, "late_events");
    Scalar::Int(state.late_events).write(&mut out);
    out.push(b'}');
    out
}

/// The decided tags, by family name.
pub fn sorted_tags<'a>(plan: &'a Plan, state: &'a CustomerState) -> Vec<(&'a str, &'a Scalar)> {
    let mut tags: Vec<(&str, &Scalar)> = plan
        .families
        .iter()
        .zip(&state.tags)
        .filter_map(|(family, tag)| tag.as_ref().map(|tag| (family.name.as_str(), tag)))
        .collect();
    tags.sort_by(|a, b| a.0.cmp(b.0));
    tags
}
