//! The PyO3 surface of `stream._native`; everything it calls lives in plain Rust modules.

use pyo3::prelude::*;

#[pymodule]
fn _native(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
