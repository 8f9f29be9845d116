//! The PyO3 surface of `stream._native`; everything it calls lives in plain Rust modules.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

mod decode;
mod printable_table;
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

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_batch, m)?)?;
    m.add("UNICODE_VERSION", printable_table::UNICODE_VERSION)?;
    Ok(())
}
