//! The Python surface of the engine core: `Engine` (a set of partitions driven in batches) and
//! `ChangeBatch` (the tag changes one call produced, kept in Rust until asked for as bytes or
//! objects). One call per batch of records crosses the boundary, never one per event.

use crate::changes::TagChange;
use crate::decode::{decode_event, EVENT_TYPES};
use crate::engine::codec::{decode, decode_wake, encode, TagTables};
use crate::engine::metrics::{compute, Need};
use crate::engine::partition::{Outcome, Partition};
use crate::engine::plan::Plan;
use crate::engine::snapshot::{customer_record, sorted_tags};
use crate::engine::state::PendingEvent;
use crate::engine::timeline::{Context, Scratch, Selections};
use crate::jsonfmt::Scalar;
use crate::partitioner::partition_of_key;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

/// A tag or metric value as the Python object the Python engine would hold.
pub fn to_python<'py>(py: Python<'py>, value: &Scalar) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Scalar::Null => py.None().into_bound(py),
        Scalar::Bool(flag) => flag.into_pyobject(py)?.to_owned().into_any(),
        Scalar::Int(number) => number.into_pyobject(py)?.into_any(),
        Scalar::UInt(number) => number.into_pyobject(py)?.into_any(),
        Scalar::Float(number) => number.into_pyobject(py)?.into_any(),
        Scalar::Str(text) => text.into_pyobject(py)?.into_any(),
    })
}

/// The tag changes of one engine call, in emission order.
#[pyclass(module = "stream._native")]
pub struct ChangeBatch {
    changes: Vec<TagChange>,
}

#[pymethods]
impl ChangeBatch {
    fn __len__(&self) -> usize {
        self.changes.len()
    }

    /// Every change as its CloudEvent JSON (`TagChange.to_json`), each followed by a newline.
    fn json_lines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::with_capacity(self.changes.len() * 600);
        for change in &self.changes {
            let json = change
                .to_json()
                .ok_or_else(|| PyValueError::new_err(format!("at {} is outside the years 1-9999", change.at)))?;
            out.extend_from_slice(&json);
            out.push(b'\n');
        }
        Ok(PyBytes::new(py, &out))
    }

    /// `(customer_id, family, old, new, at, rule, cause_event_id, metrics)` per change, the
    /// fields of `stream.changes.TagChange` (metrics a dict).
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut out = Vec::with_capacity(self.changes.len());
        for change in &self.changes {
            let metrics = PyDict::new(py);
            for (name, value) in &change.metrics {
                metrics.set_item(name, to_python(py, value)?)?;
            }
            let item = (
                &change.customer_id,
                &change.family,
                to_python(py, &change.old)?,
                to_python(py, &change.new)?,
                change.at,
                &change.rule,
                change.cause_event_id.as_deref(),
                metrics,
            );
            out.push(item.into_pyobject(py)?);
        }
        PyList::new(py, out)
    }

    /// `(family, old, new)` per change: what transition counts need, at a fraction of the cost.
    fn transitions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut out = Vec::with_capacity(self.changes.len());
        for change in &self.changes {
            out.push((&change.family, to_python(py, &change.old)?, to_python(py, &change.new)?).into_pyobject(py)?);
        }
        PyList::new(py, out)
    }
}

/// When a stored customer next needs attention (`CustomerState.wake_time`), read from its stored
/// bytes in either format without decoding the rest: all a restart needs to index a customer.
#[pyfunction]
pub fn stored_wake(customer_id: &str, raw: &[u8]) -> PyResult<Option<i64>> {
    decode_wake(customer_id, raw).map_err(PyValueError::new_err)
}

/// Counts since the engine was made: what `stream.backtest.Totals` reports.
#[derive(Default)]
struct Totals {
    events: u64,
    duplicates: u64,
    late: u64,
    newest: Option<i64>,
}

/// The partitions of one rule pack, as `backtest` runs them (the worker's partitioning and
/// watermarks, Kafka's partitioner): records in, tag changes out.
#[pyclass(module = "stream._native")]
pub struct Engine {
    plan: Plan,
    tables: TagTables,
    selections: Selections,
    partitions: Vec<Partition>,
    immediate: bool,
    scratch: Scratch,
    totals: Totals,
}

impl Engine {
    fn context_run<T>(&mut self, run: impl FnOnce(&mut Vec<Partition>, &mut Context) -> T) -> (T, Vec<TagChange>) {
        let mut out = Vec::new();
        let mut cx = Context {
            plan: &self.plan,
            selections: &self.selections,
            scratch: &mut self.scratch,
            out: &mut out,
        };
        let result = run(&mut self.partitions, &mut cx);
        (result, out)
    }

    fn find(&self, customer_id: &str) -> Option<&crate::engine::state::CustomerState> {
        let partition = partition_of_key(customer_id.as_bytes(), self.partitions.len());
        self.partitions[partition].customers.get(customer_id)
    }
}

const ALL_CAUGHT_UP: u8 = (1 << EVENT_TYPES.len()) - 1;

#[pymethods]
impl Engine {
    /// `plan`: the JSON of `stream.rules.plan_export.plan_json(rules)`; `immediate`: apply every
    /// event on arrival, as a live worker applies live events (spec tests).
    #[new]
    #[pyo3(signature = (plan, partitions, immediate = false))]
    fn new(plan: &[u8], partitions: usize, immediate: bool) -> PyResult<Self> {
        if partitions == 0 {
            return Err(PyValueError::new_err("partitions must be at least 1"));
        }
        let plan = Plan::from_json(plan).map_err(PyValueError::new_err)?;
        let selections = Selections::new(&plan);
        let partitions = (0..partitions).map(|_| Partition::new(&plan)).collect();
        Ok(Engine {
            tables: plan.tag_tables(),
            plan,
            selections,
            partitions,
            immediate,
            scratch: Scratch::default(),
            totals: Totals::default(),
        })
    }

    /// Decode and apply a batch of log lines, in order. Returns the changes and, per rejected
    /// line, `(index in the batch, reason, message)`.
    fn ingest_lines(&mut self, values: Vec<Bound<'_, PyBytes>>) -> (ChangeBatch, Vec<(usize, &'static str, String)>) {
        let mut rejected = Vec::new();
        let immediate = self.immediate;
        let totals = &mut self.totals;
        let ((), changes) = {
            let mut out = Vec::new();
            let mut cx = Context {
                plan: &self.plan,
                selections: &self.selections,
                scratch: &mut self.scratch,
                out: &mut out,
            };
            let count = self.partitions.len();
            for (index, value) in values.iter().enumerate() {
                match decode_event(value.as_bytes(), None, None) {
                    Err(rejection) => rejected.push((index, rejection.reason, rejection.message)),
                    Ok(event) => {
                        totals.events += 1;
                        totals.newest = Some(totals.newest.map_or(event.ts, |newest| newest.max(event.ts)));
                        let kind = EVENT_TYPES.iter().position(|known| *known == event.kind).unwrap_or(0);
                        let partition = &mut self.partitions[partition_of_key(event.customer_id.as_bytes(), count)];
                        let pending = PendingEvent {
                            event_id: event.event_id,
                            kind,
                            ts: event.ts,
                            amount_cents: event.amount_cents,
                            coupon: event.coupon,
                            channel: event.channel,
                            categories: event.categories,
                        };
                        match partition.ingest(&mut cx, &event.customer_id, pending, immediate, 0) {
                            Outcome::Duplicate => totals.duplicates += 1,
                            Outcome::Late => totals.late += 1,
                            Outcome::Applied => {}
                        }
                    }
                }
            }
            ((), out)
        };
        (ChangeBatch { changes }, rejected)
    }

    /// End of input: every topic is caught up, so each partition's watermark moves to its newest event.
    fn refresh(&mut self) -> ChangeBatch {
        let ((), changes) = self.context_run(|partitions, cx| {
            for partition in partitions {
                partition.refresh(cx, ALL_CAUGHT_UP);
            }
        });
        ChangeBatch { changes }
    }

    /// Apply everything and let time run to `until` (inclusive).
    fn finish(&mut self, until: i64) -> ChangeBatch {
        let ((), changes) = self.context_run(|partitions, cx| {
            for partition in partitions {
                partition.finish(cx, until);
            }
        });
        ChangeBatch { changes }
    }

    /// `(events, duplicates, late, newest event time or None)`.
    fn totals(&self) -> (u64, u64, u64, Option<i64>) {
        (
            self.totals.events,
            self.totals.duplicates,
            self.totals.late,
            self.totals.newest,
        )
    }

    fn customer_count(&self) -> usize {
        self.partitions.iter().map(|partition| partition.customers.len()).sum()
    }

    /// One snapshot record (JSON bytes) per customer, sorted by id; `at` None: each at its own clock.
    #[pyo3(signature = (at = None))]
    fn snapshot<'py>(&self, py: Python<'py>, at: Option<i64>) -> PyResult<Bound<'py, PyList>> {
        let mut everyone: Vec<(&String, &crate::engine::state::CustomerState)> = self
            .partitions
            .iter()
            .flat_map(|partition| partition.customers.iter())
            .collect();
        everyone.sort_by(|a, b| a.0.cmp(b.0));
        let records = everyone
            .into_iter()
            .map(|(customer_id, state)| {
                let at = at.unwrap_or(state.clock.filter(|clock| *clock != 0).unwrap_or(0));
                PyBytes::new(py, &customer_record(&self.plan, customer_id, state, at))
            })
            .collect::<Vec<_>>();
        PyList::new(py, records)
    }

    /// A customer's decided tags as a dict (KeyError for an unknown customer).
    fn tags<'py>(&self, py: Python<'py>, customer_id: &str) -> PyResult<Bound<'py, PyDict>> {
        let state = self
            .find(customer_id)
            .ok_or_else(|| PyKeyError::new_err(customer_id.to_owned()))?;
        let tags = PyDict::new(py);
        for (family, value) in self.plan.families.iter().zip(&state.tags) {
            if let Some(value) = value {
                tags.set_item(&family.name, to_python(py, value)?)?;
            }
        }
        Ok(tags)
    }

    /// Every customer's tags: {customer: {family: value}}, families by name.
    fn all_tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let all = PyDict::new(py);
        for (customer_id, state) in self.partitions.iter().flat_map(|partition| partition.customers.iter()) {
            let tags = PyDict::new(py);
            for (name, value) in sorted_tags(&self.plan, state) {
                tags.set_item(name, to_python(py, value)?)?;
            }
            all.set_item(customer_id, tags)?;
        }
        Ok(all)
    }

    /// Every metric of the plan for one customer at `at` (as `MetricPlan.compute`).
    fn metrics<'py>(&self, py: Python<'py>, customer_id: &str, at: i64) -> PyResult<Bound<'py, PyDict>> {
        let state = self
            .find(customer_id)
            .ok_or_else(|| PyKeyError::new_err(customer_id.to_owned()))?;
        let mut values = Vec::new();
        compute(&self.plan, state, at, Need::ALL, &mut values);
        let metrics = PyDict::new(py);
        for (name, value) in self.plan.metrics.iter().zip(&values) {
            metrics.set_item(name, to_python(py, value)?)?;
        }
        Ok(metrics)
    }

    /// Every customer's stored form (state format 2), sorted by customer id.
    fn export_states<'py>(&self, py: Python<'py>) -> Vec<(String, Bound<'py, PyBytes>)> {
        let mut everyone: Vec<(&String, &crate::engine::state::CustomerState)> = self
            .partitions
            .iter()
            .flat_map(|partition| partition.customers.iter())
            .collect();
        everyone.sort_by(|a, b| a.0.cmp(b.0));
        everyone
            .into_iter()
            .map(|(id, state)| (id.clone(), PyBytes::new(py, &encode(state, &self.tables))))
            .collect()
    }

    /// Replace customers' states with stored ones (format 2, or the JSON of format 1 that
    /// `stream/codec.py` writes: the upgrade path), then index every partition's wakes afresh,
    /// as a restarted worker does. Watermarks are left as they are.
    fn import_states(&mut self, states: Vec<(String, Vec<u8>)>) -> PyResult<()> {
        let count = self.partitions.len();
        for (customer_id, raw) in states {
            let state = decode(&customer_id, &raw, &self.tables).map_err(PyValueError::new_err)?;
            self.partitions[partition_of_key(customer_id.as_bytes(), count)]
                .customers
                .insert(customer_id, state);
        }
        for partition in &mut self.partitions {
            partition.rebuild_index();
        }
        Ok(())
    }

    /// The live clock's choice for an event of `customer_id` at `event_ts` read at `wall_clock_ms`:
    /// True to apply it on arrival (`stream.engine.PartitionEngine.live_arrival`).
    fn live_arrival(&self, customer_id: &str, event_ts: i64, wall_clock_ms: i64) -> bool {
        self.partitions[partition_of_key(customer_id.as_bytes(), self.partitions.len())]
            .live_arrival(event_ts, wall_clock_ms)
    }

    /// Live mode: real time has reached `wall_clock_ms`; `caught_up` has a bit per input topic
    /// (EVENT_TYPES order) with nothing left to deliver. Fires what every partition's watermark allows.
    fn tick(&mut self, wall_clock_ms: i64, caught_up: u8) -> ChangeBatch {
        let ((), changes) = self.context_run(|partitions, cx| {
            for partition in partitions {
                partition.tick(cx, wall_clock_ms, caught_up);
            }
        });
        ChangeBatch { changes }
    }

    /// Customers with work scheduled, over all partitions.
    fn scheduled(&self) -> usize {
        self.partitions.iter().map(Partition::scheduled).sum()
    }

    /// The newest-event watermark of each partition (NEVER: none yet).
    fn watermarks(&self) -> Vec<i64> {
        self.partitions
            .iter()
            .map(|partition| partition.watermark.value)
            .collect()
    }
}
