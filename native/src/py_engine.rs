//! The Python surface of the engine core: `Engine` (a set of partitions driven in batches) and
//! `ChangeBatch` (the tag changes one call produced, already serialized). One call per batch of
//! records crosses the boundary, never one per event.

use crate::decode::{decode_event, Event, EVENT_TYPES};
use crate::engine::codec::{decode, decode_known, decode_wake, encode, TagTables};
use crate::engine::custom;
use crate::engine::lanes::{Item, Lanes, Tally};
use crate::engine::metrics::{compute, Need};
use crate::engine::partition::{Outcome, Partition, OFFLINE_CAUGHT_UP};
use crate::engine::plan::Plan;
use crate::engine::properties;
use crate::engine::snapshot::{customer_record, sorted_tags};
use crate::engine::state::{id_hash, CustomerState, PendingEvent, CUSTOM, PROFILE, SOURCES};
use crate::engine::timeline::{Context, Output, Selections};
use crate::engine::traits;
use crate::jsonfmt::Scalar;
use crate::partitioner::partition_of_key;
use crate::py_profiles::ProfileBuilder;
use crate::pyrepr::{float_repr, str_repr};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::borrow::Cow;
use std::sync::Arc;

/// A tag or metric value as the Python object the rule loader's own evaluation would give.
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
    keys: Option<Vec<(usize, Box<str>)>>,
    families: Arc<Vec<String>>,
    unwritable: Option<i64>,
}

impl ChangeBatch {
    /// The changes' JSON lines, if this batch has them and every change could be written.
    fn json(&self) -> PyResult<&[u8]> {
        if let Some(at) = self.unwritable {
            return Err(PyValueError::new_err(format!(
                "a tag change at {at} is outside the years 1-9999"
            )));
        }
        self.json
            .as_deref()
            .ok_or_else(|| PyValueError::new_err("this engine was made with json=False"))
    }
}

#[pymethods]
impl ChangeBatch {
    fn __len__(&self) -> usize {
        self.count
    }

    /// Every change as its CloudEvent JSON (`TagChange.to_json`), each followed by a newline.
    fn json_lines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, self.json()?))
    }

    /// `(key, value)` per change, for an engine made with `keys=True`: the customer id as the
    /// Kafka record key and the CloudEvent JSON (no newline), as the worker sends them.
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let json = self.json()?;
        let keys = self
            .keys
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this engine was made with keys=False"))?;
        let mut start = 0;
        let mut out = Vec::with_capacity(keys.len());
        for (length, customer_id) in keys {
            let line = &json[start..start + length - 1];
            start += length;
            out.push((PyBytes::new(py, customer_id.as_bytes()), PyBytes::new(py, line)));
        }
        PyList::new(py, out)
    }

    /// `(family, str(old), str(new), count)` per distinct transition, in first-seen order: the
    /// worker's change counter labels, counted here rather than per change in Python.
    fn transition_counts(&self) -> PyResult<Vec<(String, String, String, u64)>> {
        let transitions = self
            .transitions
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this engine was made with transitions=False"))?;
        let mut counts: Vec<(usize, &Scalar, &Scalar, u64)> = Vec::new();
        for (family, old, new) in transitions {
            match counts
                .iter_mut()
                .find(|(f, o, n, _)| f == family && *o == old && *n == new)
            {
                Some(entry) => entry.3 += 1,
                None => counts.push((*family, old, new, 1)),
            }
        }
        Ok(counts
            .into_iter()
            .map(|(family, old, new, count)| (self.families[family].clone(), py_str(old), py_str(new), count))
            .collect())
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

/// Python's `str()` of a tag value.
fn py_str(value: &Scalar) -> String {
    match value {
        Scalar::Null => "None".to_owned(),
        Scalar::Bool(true) => "True".to_owned(),
        Scalar::Bool(false) => "False".to_owned(),
        Scalar::Int(number) => number.to_string(),
        Scalar::UInt(number) => number.to_string(),
        Scalar::Float(number) if number.is_nan() => "nan".to_owned(),
        Scalar::Float(number) if number.is_infinite() => if *number > 0.0 { "inf" } else { "-inf" }.to_owned(),
        Scalar::Float(number) => float_repr(*number),
        Scalar::Str(text) => text.clone(),
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
    oldest: Option<i64>,
}

/// The partitions of one rule pack, as `backtest` and the worker run them (the worker's
/// partitioning and watermarks, Kafka's partitioner): records in, tag changes out.
#[pyclass(module = "stream._native")]
pub struct Engine {
    plan: Plan,
    tables: Arc<TagTables>,
    /// Tag tables of earlier versions of the rule pack, to read states written with them.
    earlier_tables: Vec<TagTables>,
    families: Arc<Vec<String>>,
    selections: Selections,
    partitions: Vec<Partition>,
    /// Apply each `ingest_lines` event on arrival (as a live worker applies a live one) rather
    /// than when the watermark passes it; settable, so a spec can switch between the two.
    #[pyo3(get, set)]
    immediate: bool,
    json: bool,
    transitions: bool,
    keys: bool,
    /// Threads the partitions are worked on by (see `engine::lanes`).
    lanes: usize,
    totals: Totals,
}

/// How an event is applied: held until the watermark passes it, at once, or as the live clock
/// decides for it (`Partition::live_arrival`) at the given wall-clock instant.
#[derive(Clone, Copy)]
enum Arrival {
    Buffered,
    Immediate,
    Live(i64),
}

/// One decoded event on its way to its partition.
struct Routed {
    customer_id: String,
    event: PendingEvent,
    arrival: Arrival,
    caught_up: u8,
}

impl Engine {
    fn batch(&self, out: Output) -> ChangeBatch {
        ChangeBatch {
            count: out.count,
            json: out.json,
            transitions: out.transitions,
            keys: out.keys,
            families: Arc::clone(&self.families),
            unwritable: out.unwritable,
        }
    }

    /// Run `step` on items over the engine's lanes (one, for fewer than `MIN_PARALLEL_ITEMS`).
    fn run_lanes<T: Send>(
        &mut self,
        items: Vec<Item<T>>,
        step: &(dyn Fn(&mut Partition, &mut Context, T) -> Tally + Sync),
    ) -> (ChangeBatch, Tally) {
        let (json, transitions, keys) = (self.json, self.transitions, self.keys);
        // Sized for two changes of ~550 bytes per record up front: a doubling copies it all.
        let output = move |records: usize| Output {
            json: json.then(|| Vec::with_capacity(records * JSON_BYTES_PER_RECORD)),
            transitions: transitions.then(Vec::new),
            keys: keys.then(Vec::new),
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
        // Each step's transitions are its partition's: they move that partition's audience counts.
        let counted = |partition: &mut Partition, cx: &mut Context, item: T| {
            let before = cx.out.transitions.as_ref().map_or(0, Vec::len);
            let tally = step(partition, cx, item);
            if let Some(transitions) = &cx.out.transitions {
                partition.audiences.apply(&transitions[before..]);
            }
            tally
        };
        let (out, tally) = runner.run(&mut self.partitions, items, &output, &counted);
        self.totals.duplicates += tally.duplicates;
        self.totals.late += tally.late;
        (self.batch(out), tally)
    }

    /// Run `step` on the given partitions, the changes in that order.
    fn on_partitions(
        &mut self,
        numbers: impl Iterator<Item = usize>,
        step: &(dyn Fn(&mut Partition, &mut Context) + Sync),
    ) -> ChangeBatch {
        let items = numbers
            .enumerate()
            .map(|(seq, number)| Item {
                seq,
                partition: number,
                payload: (),
            })
            .collect();
        self.run_lanes(items, &|partition, cx, ()| {
            step(partition, cx);
            Tally::default()
        })
        .0
    }

    fn each_partition(&mut self, step: &(dyn Fn(&mut Partition, &mut Context) + Sync)) -> ChangeBatch {
        self.on_partitions(0..self.partitions.len(), step)
    }

    /// Count a decoded event and wrap it for its partition; a profile whose traits the pack
    /// refuses is rejected here (what a trait may hold depends on the pack, not on decoding).
    fn route(
        &mut self,
        seq: usize,
        partition: usize,
        (event, raw): (Event, &[u8]),
        arrival: Arrival,
        caught_up: u8,
    ) -> Result<Item<Routed>, (&'static str, String)> {
        let event_kind = EVENT_TYPES.iter().position(|known| *known == event.kind).unwrap_or(0);
        let traits = if event_kind == PROFILE {
            traits::updates(&self.plan, raw)?
        } else {
            Vec::new()
        };
        if event_kind == CUSTOM {
            custom::check(&self.plan, raw)?;
        }
        let totals = &mut self.totals;
        totals.events += 1;
        totals.newest = Some(totals.newest.map_or(event.ts, |newest| newest.max(event.ts)));
        totals.oldest = Some(totals.oldest.map_or(event.ts, |oldest| oldest.min(event.ts)));
        Ok(Item {
            seq,
            partition,
            payload: Routed {
                customer_id: event.customer_id,
                event: PendingEvent {
                    id_hash: id_hash(&event.event_id),
                    event_id: event.event_id,
                    kind: event_kind,
                    ts: event.ts,
                    amount_cents: event.amount_cents,
                    coupon: event.coupon,
                    channel: event.channel,
                    categories: event.categories,
                    feeds: properties::feeds(&self.plan, event_kind, raw),
                    traits,
                },
                arrival,
                caught_up,
            },
        })
    }

    fn apply(&mut self, items: Vec<Item<Routed>>) -> (ChangeBatch, Tally) {
        self.run_lanes(items, &|partition, cx, routed: Routed| {
            let immediate = match routed.arrival {
                Arrival::Buffered => false,
                Arrival::Immediate => true,
                Arrival::Live(wall_clock_ms) => partition.live_arrival(routed.event.ts, wall_clock_ms),
            };
            match partition.ingest(cx, &routed.customer_id, routed.event, immediate, routed.caught_up) {
                Outcome::Duplicate => Tally { duplicates: 1, late: 0 },
                Outcome::Late => Tally { duplicates: 0, late: 1 },
                Outcome::Applied => Tally::default(),
            }
        })
    }

    fn ingest_raw(&mut self, raws: &[&[u8]]) -> (ChangeBatch, Vec<(usize, &'static str, String)>) {
        let mut rejected = Vec::new();
        let mut items = Vec::with_capacity(raws.len());
        let arrival = if self.immediate {
            Arrival::Immediate
        } else {
            Arrival::Buffered
        };
        for (index, raw) in raws.iter().enumerate() {
            let routed = decode_event(raw, None, None)
                .map_err(|rejection| (rejection.reason, rejection.message))
                .and_then(|event| {
                    let partition = self.partition_of(&event.customer_id);
                    self.route(index, partition, (event, raw), arrival, OFFLINE_CAUGHT_UP)
                });
            match routed {
                Ok(item) => items.push(item),
                Err((reason, message)) => rejected.push((index, reason, message)),
            }
        }
        (self.apply(items).0, rejected)
    }

    /// The worker's records (see `ingest_records`), decoded and checked against where they came from.
    fn ingest_kafka(&mut self, records: &[KafkaRecord<'_>], intake: &Intake) -> WorkerBatch {
        let mut rejected = Vec::new();
        let mut consumed = [0u64; SOURCES];
        let mut items = Vec::with_capacity(records.len());
        let latest = intake.wall_clock_ms.saturating_add(intake.max_future_ms);
        let arrival = if intake.live {
            Arrival::Live(intake.wall_clock_ms)
        } else {
            Arrival::Buffered
        };
        for (index, record) in records.iter().enumerate() {
            let caught_up = intake.caught_up.get(record.partition).copied().unwrap_or(0);
            let raw = record.value.unwrap_or_default();
            let routed = self
                .check(record, latest)
                .and_then(|event| self.route(index, record.partition, (event, raw), arrival, caught_up));
            match routed {
                Ok(item) => {
                    consumed[record.kind] += 1;
                    items.push(item);
                }
                Err((reason, message)) => rejected.push((index, reason, message)),
            }
        }
        let (changes, tally) = self.apply(items);
        WorkerBatch {
            changes,
            rejected,
            consumed,
            tally,
        }
    }

    /// Decode one record and check it belongs where it arrived: its topic's event type and the
    /// partition Kafka's partitioner gives its customer (whose state lives there).
    fn check(&self, record: &KafkaRecord<'_>, latest: i64) -> Result<Event, (&'static str, String)> {
        let value = record
            .value
            .ok_or(("not_json", "empty record (tombstone)".to_owned()))?;
        let event =
            decode_event(value, record.key, Some(latest)).map_err(|rejection| (rejection.reason, rejection.message))?;
        let expected = EVENT_TYPES[record.kind];
        if event.kind != expected {
            return Err((
                "wrong_topic",
                format!(
                    "a {} event on topic {} (expects {})",
                    str_repr(event.kind),
                    str_repr(record.topic),
                    str_repr(expected)
                ),
            ));
        }
        let home = self.partition_of(&event.customer_id);
        if home != record.partition {
            return Err((
                "wrong_partition",
                format!(
                    "customer {} belongs to partition {home} by Kafka's key partitioner, not {} (produce with the customer id as key)",
                    str_repr(&event.customer_id),
                    record.partition
                ),
            ));
        }
        Ok(event)
    }

    fn check_partition(&self, partition: usize) -> PyResult<()> {
        if partition < self.partitions.len() {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "partition {partition} of an engine with {}",
                self.partitions.len()
            )))
        }
    }

    fn partition_of(&self, customer_id: &str) -> usize {
        partition_of_key(customer_id.as_bytes(), self.partitions.len())
    }

    fn find(&self, customer_id: &str) -> PyResult<Cow<'_, CustomerState>> {
        self.partitions[self.partition_of(customer_id)]
            .get(customer_id)
            .ok_or_else(|| PyKeyError::new_err(customer_id.to_owned()))
    }

    fn everyone_sorted(&self) -> Vec<(&str, Cow<'_, CustomerState>)> {
        let mut everyone: Vec<(&str, Cow<'_, CustomerState>)> =
            self.partitions.iter().flat_map(Partition::customers).collect();
        everyone.sort_by(|a, b| a.0.cmp(b.0));
        everyone
    }
}

/// One input record of the worker, borrowed from Python: its partition, its topic's event type
/// (index into `EVENT_TYPES`) and name, key and value (None: a tombstone).
struct KafkaRecord<'a> {
    partition: usize,
    kind: usize,
    topic: &'a str,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

/// What the worker knows at the start of a batch.
struct Intake {
    caught_up: Vec<u8>,
    wall_clock_ms: i64,
    max_future_ms: i64,
    live: bool,
}

/// What one worker batch did.
struct WorkerBatch {
    changes: ChangeBatch,
    /// `(index in the batch, reason, message)` per dead letter.
    rejected: Vec<(usize, &'static str, String)>,
    /// Decoded events per type (`EVENT_TYPES` order), duplicates included.
    consumed: [u64; SOURCES],
    tally: Tally,
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
    /// `keys`: each batch also knows each change's customer (`ChangeBatch.records`).
    /// `compact`: keep each customer as its stored bytes once `take_writes` has handed them out,
    /// decoding it again when an event or deadline needs it (the worker: a tenth of the memory).
    #[new]
    #[pyo3(signature = (plan, partitions, immediate = false, json = true, transitions = false, lanes = None, keys = false, compact = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        plan: &[u8],
        partitions: usize,
        immediate: bool,
        json: bool,
        transitions: bool,
        lanes: Option<usize>,
        keys: bool,
        compact: bool,
    ) -> PyResult<Self> {
        if partitions == 0 {
            return Err(PyValueError::new_err("partitions must be at least 1"));
        }
        let plan = Plan::from_json(plan).map_err(PyValueError::new_err)?;
        let tables = Arc::new(plan.tag_tables());
        Ok(Engine {
            partitions: (0..partitions)
                .map(|_| Partition::new(&plan, Arc::clone(&tables), compact))
                .collect(),
            tables,
            earlier_tables: Vec::new(),
            families: Arc::new(plan.families.iter().map(|family| family.name.clone()).collect()),
            selections: Selections::new(&plan),
            plan,
            immediate,
            json,
            transitions,
            keys,
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
    /// True to apply it on arrival (see `Partition::live_arrival`).
    fn live_arrival(&self, customer_id: &str, event_ts: i64, wall_clock_ms: i64) -> bool {
        self.partitions[self.partition_of(customer_id)].live_arrival(event_ts, wall_clock_ms)
    }

    /// `(events, duplicates, late, newest event time or None, oldest event time or None)`.
    fn totals(&self) -> (u64, u64, u64, Option<i64>, Option<i64>) {
        (
            self.totals.events,
            self.totals.duplicates,
            self.totals.late,
            self.totals.newest,
            self.totals.oldest,
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
                PyBytes::new(py, &customer_record(&self.plan, customer_id, &state, at))
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
            for (name, value) in sorted_tags(&self.plan, &state) {
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
        compute(&self.plan, &state, at, Need::ALL, &mut values);
        let metrics = PyDict::new(py);
        for (name, value) in self.plan.metrics.iter().zip(&values) {
            metrics.set_item(name, to_python(py, value)?)?;
        }
        Ok(metrics)
    }

    /// Every customer's stored form (state format 3), sorted by customer id.
    fn export_states<'py>(&self, py: Python<'py>) -> Vec<(String, Bound<'py, PyBytes>)> {
        self.everyone_sorted()
            .into_iter()
            .map(|(id, state)| (id.to_owned(), PyBytes::new(py, &encode(&state, &self.tables))))
            .collect()
    }

    /// Replace customers' states with stored ones (format 3 or 2, or the JSON of format 1 that
    /// earlier versions wrote: the upgrade path), then index every partition's wakes afresh,
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

    /// A customer's current state in its stored form (state format 3), None if not held here:
    /// what the worker's lookups and Redis re-syncs read, so it keeps no second copy of its state.
    fn stored_state<'py>(&self, py: Python<'py>, customer_id: &str) -> Option<Bound<'py, PyBytes>> {
        self.partitions[self.partition_of(customer_id)]
            .stored(customer_id)
            .map(|raw| PyBytes::new(py, &raw))
    }

    /// Every customer held, partition by partition.
    fn customer_ids(&self) -> Vec<String> {
        self.partitions
            .iter()
            .flat_map(|partition| partition.customer_ids().map(str::to_owned))
            .collect()
    }

    /// Customers with work scheduled, over all partitions.
    fn scheduled(&self) -> usize {
        self.partitions.iter().map(Partition::scheduled).sum()
    }

    /// The worker's batch, in offset order: per record `(partition, event type index of its
    /// topic, topic, key, value)`; `caught_up` has a bit per event type for each partition (see
    /// `tick`); events more than `max_future_ms` ahead of `wall_clock_ms` are refused; `live`:
    /// the live clock decides per event whether it applies on arrival. Returns the changes, the
    /// dead letters `(index, reason, message)`, decoded events per type, duplicates and late events.
    #[allow(clippy::type_complexity)]
    fn ingest_records(
        &mut self,
        py: Python<'_>,
        records: Vec<(
            usize,
            usize,
            String,
            Option<Bound<'_, PyBytes>>,
            Option<Bound<'_, PyBytes>>,
        )>,
        caught_up: Vec<u8>,
        wall_clock_ms: i64,
        max_future_ms: i64,
        live: bool,
    ) -> PyResult<(
        ChangeBatch,
        Vec<(usize, &'static str, String)>,
        [u64; SOURCES],
        u64,
        u64,
    )> {
        let mut borrowed = Vec::with_capacity(records.len());
        for (partition, kind, topic, key, value) in &records {
            if *partition >= self.partitions.len() || *kind >= EVENT_TYPES.len() {
                return Err(PyValueError::new_err(format!(
                    "record of partition {partition}, event type {kind}: out of range"
                )));
            }
            borrowed.push(KafkaRecord {
                partition: *partition,
                kind: *kind,
                topic,
                key: key.as_ref().map(|key| key.as_bytes()),
                value: value.as_ref().map(|value| value.as_bytes()),
            });
        }
        let intake = Intake {
            caught_up,
            wall_clock_ms,
            max_future_ms,
            live,
        };
        let batch = py.detach(|| self.ingest_kafka(&borrowed, &intake));
        Ok((
            batch.changes,
            batch.rejected,
            batch.consumed,
            batch.tally.duplicates,
            batch.tally.late,
        ))
    }

    /// A clock record for one partition: with `wall_clock_ms` the live clock's tick, without it
    /// only a re-check of which topics are caught up (event clock).
    #[pyo3(signature = (partition, wall_clock_ms, caught_up))]
    fn tick_partition(&mut self, partition: usize, wall_clock_ms: Option<i64>, caught_up: u8) -> PyResult<ChangeBatch> {
        self.check_partition(partition)?;
        Ok(
            self.on_partitions(std::iter::once(partition), &|partition, cx| match wall_clock_ms {
                Some(wall_clock_ms) => partition.tick(cx, wall_clock_ms, caught_up),
                None => partition.refresh(cx, caught_up),
            }),
        )
    }

    /// What changed since the last call, to write to the changelog: `(partition, customer,
    /// state bytes)` per changed customer, and `(partition, watermark JSON)` per changed
    /// watermark. Encoded with the GIL released, so Faust's intake runs meanwhile.
    #[allow(clippy::type_complexity)]
    fn take_writes<'py>(
        &mut self,
        py: Python<'py>,
    ) -> (
        Vec<(usize, String, Bound<'py, PyBytes>)>,
        Vec<(usize, Bound<'py, PyBytes>)>,
    ) {
        let partitions = &mut self.partitions;
        let (changed, watermarks) = py.detach(|| {
            let (mut changed, mut watermarks) = (Vec::new(), Vec::new());
            for (number, partition) in partitions.iter_mut().enumerate() {
                let (written, watermark_changed) = partition.take_writes();
                changed.extend(
                    written
                        .into_iter()
                        .map(|(customer_id, raw)| (number, customer_id.to_owned(), raw)),
                );
                if watermark_changed {
                    watermarks.push((number, partition.watermark.to_json()));
                }
            }
            (changed, watermarks)
        });
        (
            changed
                .into_iter()
                .map(|(number, customer_id, raw)| (number, customer_id, PyBytes::new(py, &raw)))
                .collect(),
            watermarks
                .into_iter()
                .map(|(number, raw)| (number, PyBytes::new(py, &raw)))
                .collect(),
        )
    }

    /// Load a partition from the table (after forgetting whatever it held): its customers'
    /// stored states and its stored watermark. A state that cannot be read is left out and
    /// returned as `(customer, error)`; the rest is loaded.
    #[pyo3(signature = (partition, states, watermark = None))]
    fn restore_partition(
        &mut self,
        py: Python<'_>,
        partition: usize,
        states: Vec<(String, Vec<u8>)>,
        watermark: Option<Vec<u8>>,
    ) -> PyResult<Vec<(String, String)>> {
        self.check_partition(partition)?;
        let (plan, earlier) = (&self.plan, &self.earlier_tables);
        let target = &mut self.partitions[partition];
        py.detach(|| {
            target.clear(plan);
            if let Some(raw) = watermark {
                target.watermark.restore(&raw).map_err(PyValueError::new_err)?;
            }
            let mut failed = Vec::new();
            for (customer_id, raw) in states {
                if let Err(error) = target.put_stored(&customer_id, raw, earlier) {
                    failed.push((customer_id, error));
                }
            }
            target.rebuild_index();
            Ok(failed)
        })
    }

    /// Forget one customer of a partition entirely (an erase request); false if it was not held.
    /// Its pending write goes too: the caller writes the erasure (a changelog tombstone) instead.
    fn erase_customer(&mut self, partition: usize, customer_id: &str) -> PyResult<bool> {
        self.check_partition(partition)?;
        let target = &mut self.partitions[partition];
        if let Some(state) = target.get(customer_id).map(Cow::into_owned) {
            target.audiences.count(&state, -1);
        }
        Ok(target.erase(customer_id))
    }

    /// `(family, str(value), customers)` over the partitions held: how many customers each value
    /// of each family has (the worker's audience-size gauge; values as `transition_counts` names them).
    fn audience_sizes(&self) -> Vec<(String, String, i64)> {
        let mut sizes: Vec<(usize, String, i64)> = Vec::new();
        for partition in &self.partitions {
            for (family, value, n) in partition.audiences.sizes() {
                let value = py_str(value);
                match sizes.iter_mut().find(|(f, v, _)| *f == family && *v == value) {
                    Some(entry) => entry.2 += n,
                    None => sizes.push((family, value, n)),
                }
            }
        }
        sizes
            .into_iter()
            .map(|(family, value, n)| (self.families[family].clone(), value, n))
            .collect()
    }

    /// Forget a partition's customers and watermark (it was revoked).
    fn drop_partition(&mut self, partition: usize) -> PyResult<()> {
        self.check_partition(partition)?;
        self.partitions[partition].clear(&self.plan);
        Ok(())
    }

    /// `(fingerprint, JSON)` of the rule pack's tag tables, which every stored state names.
    fn tag_tables<'py>(&self, py: Python<'py>) -> (u32, Bound<'py, PyBytes>) {
        (self.tables.fingerprint, PyBytes::new(py, &self.tables.to_json()))
    }

    /// Make states written with these tag tables (another version of the rule pack) readable;
    /// returns their fingerprint.
    fn add_tag_tables(&mut self, raw: &[u8]) -> PyResult<u32> {
        let tables = TagTables::from_json(raw).map_err(PyValueError::new_err)?;
        let fingerprint = tables.fingerprint;
        if fingerprint != self.tables.fingerprint && !self.earlier_tables.iter().any(|t| t.fingerprint == fingerprint) {
            self.earlier_tables.push(tables);
        }
        Ok(fingerprint)
    }

    /// The snapshot record (JSON bytes) of a stored state at its own clock, and that clock (0 if
    /// none): what lookups and Redis profiles show.
    fn stored_record<'py>(
        &self,
        py: Python<'py>,
        customer_id: &str,
        raw: &[u8],
    ) -> PyResult<(Bound<'py, PyBytes>, i64)> {
        let state =
            decode_known(customer_id, raw, &self.tables, &self.earlier_tables).map_err(PyValueError::new_err)?;
        let at = state.clock.filter(|clock| *clock != 0).unwrap_or(0);
        Ok((
            PyBytes::new(py, &customer_record(&self.plan, customer_id, &state, at)),
            at,
        ))
    }

    /// What building Redis profiles needs, taken now (`ProfileBuilder`): profiles are built on
    /// another thread while this engine goes on.
    fn profile_builder(&self) -> ProfileBuilder {
        ProfileBuilder {
            plan: self.plan.clone(),
            tables: Arc::clone(&self.tables),
            earlier: self.earlier_tables.clone(),
        }
    }

    /// The newest-event watermark of each partition (NEVER: none yet).
    fn watermarks(&self) -> Vec<i64> {
        self.partitions
            .iter()
            .map(|partition| partition.watermark.value)
            .collect()
    }
}
