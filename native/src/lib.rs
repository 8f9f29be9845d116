//! The PyO3 surface of `stream._native`; everything it calls lives in plain Rust modules.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};

mod changes;
mod decode;
mod engine;
mod jsonfmt;
mod partitioner;
mod printable_table;
mod py_engine;
mod py_profiles;
mod pyrepr;
mod timestamp;

/// Decode a batch of Kafka record values (see `schemas/events.py` `decode_event`).
///
/// `keys`, when given, has one entry per value (bytes, or None for "do not check"); `latest_ms` is
/// the newest event time accepted. Returns one tuple per record, in order: an accepted event as
/// `(event_id, type, customer_id, ts, amount_cents, coupon, channel, categories)` (8 items,
/// `categories` a tuple), a rejection as `(reason, message)` (2 items).
#[pyfunction]
#[pyo3(signature = (values, keys = None, latest_ms = None))]
fn decode_batch<'py>(
    py: Python<'py>,
    values: Vec<Bound<'py, PyBytes>>,
    keys: Option<Vec<Option<Bound<'py, PyBytes>>>>,
    latest_ms: Option<i64>,
) -> PyResult<Bound<'py, PyList>> {
    if let Some(keys) = &keys {
        if keys.len() != values.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "{} keys for {} values",
                keys.len(),
                values.len()
            )));
        }
    }
    let types = decode::EVENT_TYPES.map(|kind| PyString::intern(py, kind));
    let mut out = Vec::with_capacity(values.len());
    for (at, value) in values.iter().enumerate() {
        let key = keys
            .as_ref()
            .and_then(|keys| keys[at].as_ref())
            .map(|key| key.as_bytes());
        let item = match decode::decode_event(value.as_bytes(), key, latest_ms) {
            Ok(event) => {
                let kind = &types[decode::EVENT_TYPES
                    .iter()
                    .position(|known| *known == event.kind)
                    .unwrap_or(0)];
                let categories = PyTuple::new(py, &event.categories)?;
                (
                    event.event_id,
                    kind,
                    event.customer_id,
                    event.ts,
                    event.amount_cents,
                    event.coupon,
                    event.channel,
                    categories,
                )
                    .into_pyobject(py)?
            }
            Err(rejection) => (rejection.reason, rejection.message).into_pyobject(py)?,
        };
        out.push(item);
    }
    PyList::new(py, out)
}

/// Each record's event time, or `(reason, message)` when it is not a valid event (the checks of
/// `decode_batch`, without building the events): what the time-order pass of the offline
/// commands needs, at a fraction of a Python decode per line.
#[pyfunction]
#[pyo3(signature = (values, latest_ms = None))]
fn event_times<'py>(
    py: Python<'py>,
    values: Vec<Bound<'py, PyBytes>>,
    latest_ms: Option<i64>,
) -> PyResult<Bound<'py, PyList>> {
    let mut out = Vec::with_capacity(values.len());
    for value in &values {
        out.push(match decode::decode_event(value.as_bytes(), None, latest_ms) {
            Ok(event) => event.ts.into_pyobject(py)?.into_any(),
            Err(rejection) => (rejection.reason, rejection.message).into_pyobject(py)?.into_any(),
        });
    }
    PyList::new(py, out)
}

/// The fields of a `stream.changes.TagChange`, in its field order, metrics as (name, value) pairs.
type ChangeTuple<'py> = (
    String,
    String,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    i64,
    String,
    Option<String>,
    Vec<(String, Bound<'py, PyAny>)>,
);

/// `TagChange(...).to_json()` for each tuple `(customer_id, family, old, new, at, rule,
/// cause_event_id, metrics)`, `metrics` a list of (name, value) pairs. Values are None, bool, int
/// (-2^63..2^64), float or str; anything else is a TypeError, an `at` outside the years 1-9999 a
/// ValueError.
#[pyfunction]
fn change_events<'py>(py: Python<'py>, changes: Vec<ChangeTuple<'py>>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    changes
        .into_iter()
        .map(|(customer_id, family, old, new, at, rule, cause_event_id, metrics)| {
            let change = changes::TagChange {
                customer_id,
                family,
                old: scalar(&old)?,
                new: scalar(&new)?,
                at,
                rule,
                cause_event_id,
                metrics: metrics
                    .into_iter()
                    .map(|(name, value)| Ok((name, scalar(&value)?)))
                    .collect::<PyResult<_>>()?,
            };
            let json = change
                .to_json()
                .ok_or_else(|| PyValueError::new_err(format!("at {at} is outside the years 1-9999")))?;
            Ok(PyBytes::new(py, &json))
        })
        .collect()
}

/// A tag or metric value as the JSON scalar orjson would write for it.
fn scalar(value: &Bound<'_, PyAny>) -> PyResult<jsonfmt::Scalar> {
    use jsonfmt::Scalar;
    if value.is_none() {
        Ok(Scalar::Null)
    } else if let Ok(flag) = value.cast::<PyBool>() {
        Ok(Scalar::Bool(flag.is_true()))
    } else if value.is_instance_of::<PyInt>() {
        match value.extract::<i64>() {
            Ok(number) => Ok(Scalar::Int(number)),
            Err(_) => Ok(Scalar::UInt(value.extract::<u64>()?)),
        }
    } else if let Ok(number) = value.cast::<PyFloat>() {
        Ok(Scalar::Float(number.value()))
    } else if let Ok(text) = value.cast::<PyString>() {
        Ok(Scalar::Str(text.to_str()?.to_owned()))
    } else {
        Err(PyTypeError::new_err(format!(
            "a tag change value must be None, bool, int, float or str, not {}",
            value.get_type().name()?
        )))
    }
}

/// Kafka's default partitioner: murmur2 of the key as the Java client computes it (signed).
#[pyfunction]
fn murmur2(key: &[u8]) -> i32 {
    partitioner::murmur2(key)
}

/// The partition a record keyed by `key` lands in (Kafka's default partitioner, a non-empty key).
#[pyfunction]
fn partition_of_key(key: &[u8], partitions: usize) -> PyResult<usize> {
    if partitions == 0 {
        return Err(PyValueError::new_err("a topic has at least one partition"));
    }
    Ok(partitioner::partition_of_key(key, partitions))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_batch, m)?)?;
    m.add_function(wrap_pyfunction!(change_events, m)?)?;
    m.add_function(wrap_pyfunction!(event_times, m)?)?;
    m.add_function(wrap_pyfunction!(murmur2, m)?)?;
    m.add_function(wrap_pyfunction!(partition_of_key, m)?)?;
    m.add_class::<py_engine::Engine>()?;
    m.add_function(wrap_pyfunction!(py_engine::stored_wake, m)?)?;
    m.add_class::<py_engine::ChangeBatch>()?;
    m.add_class::<py_profiles::ProfileBuilder>()?;
    m.add("UNICODE_VERSION", printable_table::UNICODE_VERSION)?;
    Ok(())
}
