//! The Python surface of the engine core: `Engine` (a set of partitions driven in batches) and
//! `ChangeBatch` (the tag changes one call produced, already serialized). One call per batch of
//! records crosses the boundary, never one per event.

use crate::decode::{decode_event, EVENT_TYPES};
use crate::engine::codec::{decode, decode_wake, encode, TagTables};
use crate::engine::lanes::{Item, Lanes, Tally};
use crate::engine::metrics::{compute, Need};
use crate::engine::partition::{Outcome, Partition};
use crate::engine::plan::Plan;
use crate::engine::snapshot::{customer_record, sorted_tags};
use crate::engine::state::{id_hash, CustomerState, PendingEvent};
use crate::engine::timeline::{Context, Output, Selections};
use crate::jsonfmt::Scalar;
use crate::partitioner::partition_of_key;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::sync::Arc;

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

/// The tag changes of one engine call, in emission order: their CloudEvent JSON lines and, for
/// an engine made with `transitions=True`, their (family, from, to).
#[pyclass(module = "stream._native")]
pub struct ChangeBatch {
    count: usize,
    json: Option<Vec<u8>>,
    transitions: Option<Vec<(usize, Scalar, Scalar)>>,
    families: Arc<Vec<String>>,
    unwritable: Option<i64>,
}

#[pymethods]
impl ChangeBatch {
    fn __len__(&self) -> usize {
        self.count
    }

    /// Every change as its CloudEvent JSON (`TagChange.to_json`), each followed by a newline.
    fn json_lines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        if let Some(at) = self.unwritable {
            return Err(PyValueError::new_err(format!(
                "a tag change at {at} is outside the years 1-9999"
            )));
        }
        let json = self
            .json
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this engine was made with json=False"))?;
        Ok(PyBytes::new(py, json))
    }

    /// `(family, old, new)` per change: what transition counts need.
    fn transitions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let transitions = self
            .transitions
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this engine was made with transitions=False"))?;
        let mut out = Vec::with_capacity(transitions.len());
        for (family, old, new) in transitions {
            out.push((&self.families[*family], to_python(py, old)?, to_python(py, new)?).into_pyobject(py)?);
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
    families: Arc<Vec<String>>,
    selections: Selections,
    partitions: Vec<Partition>,
    immediate: bool,
    json: bool,
    transitions: bool,
    /// Threads the partitions are worked on by (see `engine::lanes`).
    lanes: usize,
    totals: Totals,
}

impl Engine {
    fn batch(&self, out: Output) -> ChangeBatch {
        ChangeBatch {
            count: out.count,
            json: out.json,
            transitions: out.transitions,
            families: Arc::clone(&self.families),
            unwritable: out.unwritable,
        }
    }

    /// Run `step` on items over the engine's lanes (one, for fewer than `MIN_PARALLEL_ITEMS`).
    fn run_lanes<T: Send>(
        &mut self,
        items: Vec<Item<T>>,
        step: &(dyn Fn(&mut Partition, &mut Context, T) -> Tally + Sync),
    ) -> ChangeBatch {
        let (json, transitions) = (self.json, self.transitions);
        // Sized for two changes of ~550 bytes per record up front: a doubling copies it all.
        let output = move |records: usize| Output {
            json: json.then(|| Vec::with_capacity(records * JSON_BYTES_PER_RECORD)),
            transitions: transitions.then(Vec::new),
            ..Output::default()
        };
        let lanes = if items.len() < MIN_PARALLEL_ITEMS && items.len() > self.partitions.len() {
            1
        } else {
            self.lanes
        };
        let runner = Lanes {
            plan: &self.plan,
            selections: &self.selections,
            lanes,
        };
        let (out, tally) = runner.run(&mut self.partitions, items, &output, step);
        self.totals.duplicates += tally.duplicates;
        self.totals.late += tally.late;
        self.batch(out)
    }

    /// Run `step` on every partition, the changes in partition order.
    fn each_partition(&mut self, step: &(dyn Fn(&mut Partition, &mut Context) + Sync)) -> ChangeBatch {
        let items = (0..self.partitions.len())
            .map(|number| Item {
                seq: number,
                partition: number,
                payload: (),
            })
            .collect();
        self.run_lanes(items, &|partition, cx, ()| {
            step(partition, cx);
            Tally::default()
        })
    }

    fn ingest_raw(&mut self, raws: &[&[u8]]) -> (ChangeBatch, Vec<(usize, &'static str, String)>) {
        let mut rejected = Vec::new();
        let mut items = Vec::with_capacity(raws.len());
        for (index, raw) in raws.iter().enumerate() {
            let event = match decode_event(raw, None, None) {
                Ok(event) => event,
                Err(rejection) => {
                    rejected.push((index, rejection.reason, rejection.message));
                    continue;
                }
            };
            let totals = &mut self.totals;
            totals.events += 1;
            totals.newest = Some(totals.newest.map_or(event.ts, |newest| newest.max(event.ts)));
            let pending = PendingEvent {
                id_hash: id_hash(&event.event_id),
                event_id: event.event_id,
                kind: EVENT_TYPES.iter().position(|known| *known == event.kind).unwrap_or(0),
                ts: event.ts,
                amount_cents: event.amount_cents,
                coupon: event.coupon,
                channel: event.channel,
                categories: event.categories,
            };
            let partition = self.partition_of(&event.customer_id);
            items.push(Item {
                seq: index,
                partition,
                payload: (event.customer_id, pending),
            });
        }
        let immediate = self.immediate;
        let batch = self.run_lanes(
            items,
            &|partition, cx, (customer_id, pending): (String, PendingEvent)| match partition.ingest(
                cx,
                &customer_id,
                pending,
                immediate,
                0,
            ) {
                Outcome::Duplicate => Tally { duplicates: 1, late: 0 },
                Outcome::Late => Tally { duplicates: 0, late: 1 },
                Outcome::Applied => Tally::default(),
            },
        );
        (batch, rejected)
    }

    fn partition_of(&self, customer_id: &str) -> usize {
        partition_of_key(customer_id.as_bytes(), self.partitions.len())
    }

    fn find(&self, customer_id: &str) -> PyResult<&CustomerState> {
        self.partitions[self.partition_of(customer_id)]
            .get(customer_id)
            .ok_or_else(|| PyKeyError::new_err(customer_id.to_owned()))
    }

    fn everyone_sorted(&self) -> Vec<(&str, &CustomerState)> {
        let mut everyone: Vec<(&str, &CustomerState)> = self.partitions.iter().flat_map(Partition::customers).collect();
        everyone.sort_by(|a, b| a.0.cmp(b.0));
        everyone
    }
}

const JSON_BYTES_PER_RECORD: usize = 1100;
/// Below this many items a call stays on one thread: spawning would cost more than it saves.
const MIN_PARALLEL_ITEMS: usize = 256;
const ALL_CAUGHT_UP: u8 = (1 << EVENT_TYPES.len()) - 1;

#[pymethods]
impl Engine {
    /// `plan`: the JSON of `stream.rules.plan_export.plan_json(rules)`; `immediate`: apply every
    /// event on arrival, as a live worker applies live events (spec tests); `json` and
    /// `transitions`: what each `ChangeBatch` carries.
    #[new]
    #[pyo3(signature = (plan, partitions, immediate = false, json = true, transitions = false, lanes = None))]
    fn new(
        plan: &[u8],
        partitions: usize,
        immediate: bool,
        json: bool,
        transitions: bool,
        lanes: Option<usize>,
    ) -> PyResult<Self> {
        if partitions == 0 {
            return Err(PyValueError::new_err("partitions must be at least 1"));
        }
        let plan = Plan::from_json(plan).map_err(PyValueError::new_err)?;
        Ok(Engine {
            tables: plan.tag_tables(),
            families: Arc::new(plan.families.iter().map(|family| family.name.clone()).collect()),
            selections: Selections::new(&plan),
            partitions: (0..partitions).map(|_| Partition::new(&plan)).collect(),
            plan,
            immediate,
            json,
            transitions,
            lanes: lanes
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |cores| cores.get()))
                .max(1),
            totals: Totals::default(),
        })
    }

    /// Decode and apply a batch of log lines, in order, without holding the GIL (a writer thread
    /// can write the previous batch meanwhile). Returns the changes and, per rejected line,
    /// `(index in the batch, reason, message)`.
    fn ingest_lines(
        &mut self,
        py: Python<'_>,
        values: Vec<Bound<'_, PyBytes>>,
    ) -> (ChangeBatch, Vec<(usize, &'static str, String)>) {
        let raws: Vec<&[u8]> = values.iter().map(|value| value.as_bytes()).collect();
        py.detach(|| self.ingest_raw(&raws))
    }

    /// End of input: every topic is caught up, so each partition's watermark moves to its newest event.
    fn refresh(&mut self, py: Python<'_>) -> ChangeBatch {
        py.detach(|| self.each_partition(&|partition, cx| partition.refresh(cx, ALL_CAUGHT_UP)))
    }

    /// Apply everything and let time run to `until` (inclusive).
    fn finish(&mut self, py: Python<'_>, until: i64) -> ChangeBatch {
        py.detach(|| self.each_partition(&|partition, cx| partition.finish(cx, until)))
    }

    /// Live mode: real time has reached `wall_clock_ms`; `caught_up` has a bit per input topic
    /// (EVENT_TYPES order) with nothing left to deliver. Fires what every partition's watermark allows.
    fn tick(&mut self, wall_clock_ms: i64, caught_up: u8) -> ChangeBatch {
        self.each_partition(&|partition, cx| partition.tick(cx, wall_clock_ms, caught_up))
    }

    /// The live clock's choice for an event of `customer_id` at `event_ts` read at `wall_clock_ms`:
    /// True to apply it on arrival (`stream.engine.PartitionEngine.live_arrival`).
    fn live_arrival(&self, customer_id: &str, event_ts: i64, wall_clock_ms: i64) -> bool {
        self.partitions[self.partition_of(customer_id)].live_arrival(event_ts, wall_clock_ms)
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
        self.partitions.iter().map(Partition::len).sum()
    }

    /// One snapshot record (JSON bytes) per customer, sorted by id; `at` None: each at its own clock.
    #[pyo3(signature = (at = None))]
    fn snapshot<'py>(&self, py: Python<'py>, at: Option<i64>) -> PyResult<Bound<'py, PyList>> {
        let records = self
            .everyone_sorted()
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
        let state = self.find(customer_id)?;
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
        for (customer_id, state) in self.partitions.iter().flat_map(Partition::customers) {
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
        let state = self.find(customer_id)?;
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
        self.everyone_sorted()
            .into_iter()
            .map(|(id, state)| (id.to_owned(), PyBytes::new(py, &encode(state, &self.tables))))
            .collect()
    }

    /// Replace customers' states with stored ones (format 2, or the JSON of format 1 that
    /// `stream/codec.py` writes: the upgrade path), then index every partition's wakes afresh,
    /// as a restarted worker does. Watermarks are left as they are.
    fn import_states(&mut self, states: Vec<(String, Vec<u8>)>) -> PyResult<()> {
        let count = self.partitions.len();
        for (customer_id, raw) in states {
            let state = decode(&customer_id, &raw, &self.tables).map_err(PyValueError::new_err)?;
            self.partitions[partition_of_key(customer_id.as_bytes(), count)].put(&customer_id, state);
        }
        for partition in &mut self.partitions {
            partition.rebuild_index();
        }
        Ok(())
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
