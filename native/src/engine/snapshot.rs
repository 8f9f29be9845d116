//! The snapshot form of one customer (`stream.backtest.customer_record`), as the JSON bytes
//! `orjson.dumps(record)` writes: what an analyst and the Redis profile read.

use super::metrics::{compute, Need};
use super::plan::Plan;
use super::state::{CustomerState, ORDER};
use crate::jsonfmt::{write_str, Scalar};
use crate::timestamp::format_ts;

/// Where a record's entries go, in order: the JSON record nests them (`customer_record`), the
/// Redis profile flattens them (`engine::profile`). One definition of what a record holds.
pub trait RecordSink {
    fn value(&mut self, name: &str, value: Scalar);
    /// The entries up to `close` belong to the object `name`.
    fn open(&mut self, name: &str);
    fn close(&mut self);
}

fn optional_ts(ts: Option<i64>) -> Scalar {
    ts.map_or(Scalar::Null, |ts| Scalar::Str(format_ts(ts)))
}

fn metric(plan: &Plan, metrics: &[Scalar], name: &str) -> Scalar {
    plan.metrics
        .iter()
        .position(|known| known == name)
        .map_or(Scalar::Null, |id| metrics[id].clone())
}

/// One customer's record at `at` (moved up to the customer's own clock, as Python's
/// `max(at, state.clock or at)` does: a clock of exactly 0 counts as unset there); returns
/// that instant.
pub fn visit_record(plan: &Plan, customer_id: &str, state: &CustomerState, at: i64, sink: &mut impl RecordSink) -> i64 {
    let at = at.max(state.clock.filter(|clock| *clock != 0).unwrap_or(at));
    let mut metrics = Vec::new();
    compute(plan, state, at, Need::ALL, &mut metrics);
    sink.value("customer_id", Scalar::Str(customer_id.to_owned()));
    sink.value("as_of", Scalar::Str(format_ts(at)));
    sink.value("orders_total", Scalar::Int(state.orders_total));
    sink.value("revenue_total", Scalar::Float(state.revenue_cents as f64 / 100.0));
    sink.value("events_total", Scalar::Int(state.events_total));
    sink.value("first_order_at", optional_ts(state.first_ts[ORDER]));
    sink.value("last_order_at", optional_ts(state.last_ts[ORDER]));
    sink.value("days_since_last_order", metric(plan, &metrics, "days_since_last_order"));
    sink.open("windows");
    for window in plan.windows.iter().filter(|window| !window.previous) {
        sink.value(&plan.metrics[window.metric], metrics[window.metric].clone());
    }
    sink.close();
    if !plan.property_metrics.is_empty() {
        sink.open("properties");
        for property in &plan.property_metrics {
            sink.value(&plan.metrics[property.metric], metrics[property.metric].clone());
        }
        sink.close();
    }
    if !plan.traits.is_empty() {
        sink.open("traits");
        for declared in &plan.traits {
            let value = super::traits::get(state, &declared.name).cloned();
            sink.value(&declared.name, value.unwrap_or(Scalar::Null));
        }
        if let Some((metric, _)) = &plan.age {
            sink.value(&plan.metrics[*metric], metrics[*metric].clone());
        }
        sink.close();
    }
    sink.open("rfm");
    for score in ["r", "f", "m"] {
        sink.value(score, metric(plan, &metrics, &format!("rfm_{score}")));
    }
    sink.close();
    sink.value("updated_at", optional_ts(state.changed_at));
    sink.open("tags");
    for (name, value) in sorted_tags(plan, state) {
        sink.value(name, value.clone());
    }
    sink.close();
    sink.value("pending_events", Scalar::Int(state.pending.len() as i64));
    sink.value("late_events", Scalar::Int(state.late_events));
    at
}

/// The JSON record, as `orjson.dumps(record)` writes it.
struct JsonRecord {
    out: Vec<u8>,
    first: bool,
}

impl JsonRecord {
    fn key(&mut self, name: &str) {
        if !std::mem::replace(&mut self.first, false) {
            self.out.push(b',');
        }
        write_str(&mut self.out, name);
        self.out.push(b':');
    }
}

impl RecordSink for JsonRecord {
    fn value(&mut self, name: &str, value: Scalar) {
        self.key(name);
        value.write(&mut self.out);
    }

    fn open(&mut self, name: &str) {
        self.key(name);
        self.out.push(b'{');
        self.first = true;
    }

    fn close(&mut self) {
        self.out.push(b'}');
        self.first = false;
    }
}

/// One customer's record at `at` (see `visit_record`) as JSON bytes.
pub fn customer_record(plan: &Plan, customer_id: &str, state: &CustomerState, at: i64) -> Vec<u8> {
    let mut record = JsonRecord {
        out: Vec::with_capacity(512),
        first: true,
    };
    record.out.push(b'{');
    visit_record(plan, customer_id, state, at, &mut record);
    record.out.push(b'}');
    record.out
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
