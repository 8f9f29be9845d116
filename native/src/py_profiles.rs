//! Redis profiles built off the event loop's thread.

use crate::engine::codec::{decode_known, TagTables};
use crate::engine::plan::Plan;
use crate::engine::profile::redis_profile;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;

/// A snapshot of what reading stored states needs: the plan and every tag table known when it
/// was taken (`Engine.profile_builder`). Frozen and independent of the engine, so the worker's
/// Redis writer builds profiles on a thread of its own, with the GIL released, while the event
/// loop goes on with the stream.
#[pyclass(frozen, module = "stream._native")]
pub struct ProfileBuilder {
    pub plan: Plan,
    pub tables: Arc<TagTables>,
    pub earlier: Vec<TagTables>,
}

#[pymethods]
impl ProfileBuilder {
    /// The Redis profiles (`engine::profile`) of customers' stored states, each as of its own
    /// clock: `(customer, profile JSON)` per readable state and `(customer, error)` per state
    /// that cannot be read, so that one damaged state never stops the others.
    #[allow(clippy::type_complexity)]
    fn build<'py>(
        &self,
        py: Python<'py>,
        customers: Vec<(String, Vec<u8>)>,
    ) -> (Vec<(String, Bound<'py, PyBytes>)>, Vec<(String, String)>) {
        let built: Vec<(String, Result<Vec<u8>, String>)> = py.detach(|| {
            customers
                .into_iter()
                .map(|(customer_id, raw)| {
                    let profile = decode_known(&customer_id, &raw, &self.tables, &self.earlier)
                        .map(|state| redis_profile(&self.plan, &customer_id, &state));
                    (customer_id, profile)
                })
                .collect()
        });
        let (mut profiles, mut failed) = (Vec::with_capacity(built.len()), Vec::new());
        for (customer_id, profile) in built {
            match profile {
                Ok(profile) => profiles.push((customer_id, PyBytes::new(py, &profile))),
                Err(error) => failed.push((customer_id, error)),
            }
        }
        (profiles, failed)
    }
}
